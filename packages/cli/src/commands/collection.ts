import { readCollections } from '@tidemark/engine';
import { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { formatTable, printJson } from '../output';
import { withLibrary } from '../with-library';
import { checkNewName, resolveNamed } from '../named-resources';

const out = (text: string) => process.stdout.write(`${text}\n`);

export function registerCollection(program: Command): void {
  const collection = program
    .command('collection')
    .description('create, remove and list collections (shared across devices, last writer wins)')
    .addHelpText(
      'after',
      `
Examples:
  $ tidemark collection add --library ~/tidemark/laptop "Trip to Lisbon" --description "May 2025"
  $ tidemark collection list --library ~/tidemark/laptop`,
    );

  collection
    .command('add')
    .description('create a collection; prints its uuid')
    .requiredOption('--library <dir>', 'library directory')
    .argument('<name>', 'collection name, 1 to 256 bytes')
    .option('--description <text>', 'free text', '')
    .option('--json', 'print the collection as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ tidemark collection add --library ~/tidemark/laptop "Trip to Lisbon" --description "May 2025"',
    )
    .action(async (name: string, options: { library: string; description: string; json?: boolean }) => {
      const uuid = await withLibrary(options.library, (library) =>
        library.write(async (tx) => {
          await checkNewName(tx, 'collection', name);
          const uuid = randomUUID();
          await tx.put('collection', { uuid, name, description: options.description });
          return uuid;
        }),
      );
      if (options.json) printJson({ uuid, name, description: options.description });
      else out(uuid);
    });

  collection
    .command('rm')
    .description('delete a collection (a tombstone travels to every device)')
    .requiredOption('--library <dir>', 'library directory')
    .argument('<collection>', 'collection name or uuid')
    .option('--json', 'print what was removed as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ tidemark collection rm --library ~/tidemark/laptop "Trip to Lisbon"',
    )
    .action(async (ref: string, options: { library: string; json?: boolean }) => {
      const removed = await withLibrary(options.library, (library) =>
        library.write(async (tx) => {
          const row = await resolveNamed(tx, 'collection', ref);
          await tx.delete('collection', row.uuid);
          return row;
        }),
      );
      if (options.json) printJson({ uuid: removed.uuid, name: removed.name });
      else out(`removed collection "${removed.name}" (${removed.uuid})`);
    });

  collection
    .command('list')
    .description('list collections')
    .requiredOption('--library <dir>', 'library directory')
    .option('--json', 'print the collections as JSON')
    .addHelpText('after', '\nExamples:\n  $ tidemark collection list --library ~/tidemark/laptop --json')
    .action(async (options: { library: string; json?: boolean }) => {
      const rows = await withLibrary(options.library, async (library) =>
        (await readCollections(library)).map(({ uuid, name, description, origin }) => ({
          uuid,
          name,
          description,
          origin,
        })),
      );
      if (options.json) printJson(rows);
      else if (rows.length === 0) out('no collections; create one with `tidemark collection add`');
      else {
        out(
          formatTable(
            ['uuid', 'name', 'description', 'last written by'],
            rows.map((r) => [r.uuid, r.name, r.description || '-', r.origin]),
          ),
        );
      }
    });
}
