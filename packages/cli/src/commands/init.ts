import { Library } from '@tidemark/engine';
import { Command } from 'commander';
import { libraryFile } from '../options';
import { printJson } from '../output';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create a library database in DIR (a new library, or a new member of an existing one)')
    .requiredOption('--library <dir>', 'directory for the library (DIR/library.db is created)')
    .option('--library-id <uuid>', 'join the existing library with this id instead of making a new one')
    .option('--name <name>', 'human-readable name of the library')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ tidemark init --library ~/tidemark/laptop
  $ tidemark init --library ~/tidemark/desktop --library-id 0b79cf7e-631e-451e-8aee-83d9646fee82`,
    )
    .action(async (options: { library: string; libraryId?: string; name?: string; json?: boolean }) => {
      const library = await Library.create(libraryFile(options.library), {
        libraryId: options.libraryId,
        name: options.name,
      });
      const { libraryId, deviceId, epoch, name } = library.identity;
      await library.close();
      if (options.json) printJson({ file: libraryFile(options.library), libraryId, deviceId, epoch, name });
      else {
        process.stdout.write(
          `created ${libraryFile(options.library)}\n` +
            `library id  ${libraryId}\ndevice id   ${deviceId}\nepoch       ${epoch}\n`,
        );
      }
    });
}
