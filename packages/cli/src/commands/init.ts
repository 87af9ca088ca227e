import { Command } from 'commander';
import { createDeviceLibrary } from '../device-library';
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
  $ tidemark init --library ~/tidemark/desktop --library-id 0b79cf7e-631e-451e-8aee-83d9646fee82

Also makes this device's key pair and self-signed certificate (DIR/device-key.pem, mode 0600, and
DIR/device-cert.pem); the device id is derived from the certificate. To add another device to
the library over the network, use \`tidemark invite\` here and \`tidemark join\` there.`,
    )
    .action(async (options: { library: string; libraryId?: string; name?: string; json?: boolean }) => {
      const { library, credentials } = await createDeviceLibrary(options.library, {
        libraryId: options.libraryId,
        name: options.name,
      });
      const { libraryId, deviceId, epoch, name } = library.identity;
      const { fingerprint } = credentials.certificate;
      await library.close();
      if (options.json)
        printJson({ file: libraryFile(options.library), libraryId, deviceId, epoch, name, fingerprint });
      else {
        process.stdout.write(
          `created ${libraryFile(options.library)}\n` +
            `library id   ${libraryId}\ndevice id    ${deviceId}\nepoch        ${epoch}\n` +
            `certificate  ${fingerprint} (key in device-key.pem, mode 0600)\n`,
        );
      }
    });
}
