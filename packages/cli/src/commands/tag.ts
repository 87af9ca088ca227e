import {
  readAssignmentsOfDeletedTags,
  readTagAssignments,
  readTags,
  tagAssignmentUuidOf,
  TidemarkError,
} from '@tidemark/engine';
import { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { findIndexedFile } from '../indexer/find-entry';
import { checkNewName, resolveNamed } from '../named-resources';
import { formatCount, formatTable, printJson } from '../output';
import { withLibrary } from '../with-library';

function color(value: string): string {
  if (!/^#[0-9a-fA-F]{6}$/.test(value)) {
    throw new TidemarkError('INVALID_ARGUMENT', `--color must be #rrggbb, got "${value}"`);
  }
  return value.toLowerCase();
}

const out = (text: string) => process.stdout.write(`${text}\n`);

function registerAdd(tag: Command): void {
  tag
    .command('add')
    .description('create a tag (shared: every device of the library gets it); prints its uuid')
    .requiredOption('--library <dir>', 'library directory')
    .argument('<name>', 'tag name, 1 to 256 bytes')
    .option('--color <#rrggbb>', 'display colour', color, '')
    .option('--json', 'print the tag as JSON')
    .addHelpText(
      'after',
      "\nExamples:\n  $ tidemark tag add --library ~/tidemark/laptop holiday --color '#ff8800'",
    )
    .action(async (name: string, options: { library: string; color: string; json?: boolean }) => {
      const uuid = await withLibrary(options.library, (library) =>
        library.write(async (tx) => {
          await checkNewName(tx, 'tag', name);
          const uuid = randomUUID();
          await tx.put('tag', { uuid, name, color: options.color });
          return uuid;
        }),
      );
      if (options.json) printJson({ uuid, name, color: options.color });
      else out(uuid);
    });
}

function registerRm(tag: Command): void {
  tag
    .command('rm')
    .description('delete a tag and its assignments (a tombstone travels to every device)')
    .requiredOption('--library <dir>', 'library directory')
    .argument('<tag>', 'tag name or uuid')
    .option('--json', 'print what was removed as JSON')
    .addHelpText('after', '\nExamples:\n  $ tidemark tag rm --library ~/tidemark/laptop holiday')
    .action(async (ref: string, options: { library: string; json?: boolean }) => {
      const { tag, assignments } = await withLibrary(options.library, (library) =>
        library.write(async (tx) => {
          const tag = await resolveNamed(tx, 'tag', ref);
          const rows = await readTagAssignments(tx, tag.uuid);
          // Assignments of a deleted tag would dangle on every device; they go in the same commit.
          for (const row of rows) await tx.delete('tag_assignment', row.uuid);
          await tx.delete('tag', tag.uuid);
          return { tag, assignments: rows.length };
        }),
      );
      if (options.json) printJson({ uuid: tag.uuid, name: tag.name, assignmentsRemoved: assignments });
      else out(`removed tag "${tag.name}" (${tag.uuid}) and ${formatCount(assignments)} assignment(s)`);
    });
}

function registerRename(tag: Command): void {
  tag
    .command('rename')
    .description('rename a tag; concurrent renames on two devices converge to the later one')
    .requiredOption('--library <dir>', 'library directory')
    .argument('<tag>', 'tag name or uuid')
    .argument('<new-name>', 'new name, 1 to 256 bytes')
    .option('--json', 'print the tag as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ tidemark tag rename --library ~/tidemark/laptop holiday "summer 2025"',
    )
    .action(async (ref: string, newName: string, options: { library: string; json?: boolean }) => {
      const tag = await withLibrary(options.library, (library) =>
        library.write(async (tx) => {
          const tag = await resolveNamed(tx, 'tag', ref);
          if (tag.name === newName) return tag;
          await checkNewName(tx, 'tag', newName);
          await tx.put('tag', { uuid: tag.uuid, name: newName, color: tag.color });
          return tag;
        }),
      );
      if (options.json) {
        printJson({ uuid: tag.uuid, name: newName, previousName: tag.name, changed: tag.name !== newName });
      } else {
        out(
          tag.name === newName
            ? `tag "${newName}" unchanged`
            : `renamed tag "${tag.name}" to "${newName}" (${tag.uuid})`,
        );
      }
    });
}

function registerList(tag: Command): void {
  tag
    .command('list')
    .description('list tags with their assignment counts')
    .requiredOption('--library <dir>', 'library directory')
    .option('--json', 'print the tags as JSON')
    .addHelpText('after', '\nExamples:\n  $ tidemark tag list --library ~/tidemark/laptop --json')
    .action(async (options: { library: string; json?: boolean }) => {
      const tags = await withLibrary(options.library, async (library) =>
        (await readTags(library)).map(({ tag, assignments }) => ({
          uuid: tag.uuid,
          name: tag.name,
          color: tag.color,
          origin: tag.origin,
          assignments,
        })),
      );
      if (options.json) printJson(tags);
      else if (tags.length === 0) out('no tags; create one with `tidemark tag add`');
      else {
        out(
          formatTable(
            ['uuid', 'name', 'color', 'files', 'last written by'],
            tags.map((t) => [t.uuid, t.name, t.color || '-', formatCount(t.assignments), t.origin]),
          ),
        );
      }
    });
}

function registerAssign(tag: Command): void {
  tag
    .command('assign')
    .description(
      'tag the content of an indexed file (every copy of that content, on every device, has the tag)',
    )
    .requiredOption('--library <dir>', 'library directory')
    .argument('<tag>', 'tag name or uuid')
    .argument('<path>', 'path of a file inside an indexed location')
    .option('--json', 'print the assignment as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ tidemark tag assign --library ~/tidemark/laptop holiday ~/Photos/beach.jpg',
    )
    .action(async (ref: string, target: string, options: { library: string; json?: boolean }) => {
      const result = await withLibrary(options.library, (library) =>
        library.write(async (tx) => {
          const tag = await resolveNamed(tx, 'tag', ref);
          const file = await findIndexedFile(tx, tx.deviceId, target);
          const [existing] = await readTagAssignments(tx, tag.uuid, file.contentUuid);
          const uuid = existing?.uuid ?? tagAssignmentUuidOf(tag.uuid, file.contentUuid);
          if (!existing) {
            await tx.put('tag_assignment', { uuid, tagUuid: tag.uuid, contentUuid: file.contentUuid });
          }
          return { tag, file, uuid, created: !existing };
        }),
      );
      const { tag, file, uuid, created } = result;
      if (options.json) {
        printJson({
          uuid,
          tagUuid: tag.uuid,
          tag: tag.name,
          path: file.absolutePath,
          contentUuid: file.contentUuid,
          created,
        });
      } else if (!created) out(`${file.absolutePath} already has tag "${tag.name}"`);
      else out(`tagged ${file.absolutePath} (content ${file.contentUuid}) with "${tag.name}"`);
    });
}

function registerUnassign(tag: Command): void {
  tag
    .command('unassign')
    .description('remove a tag from the content of an indexed file')
    .requiredOption('--library <dir>', 'library directory')
    .argument('<tag>', 'tag name or uuid')
    .argument('<path>', 'path of a file inside an indexed location')
    .option('--json', 'print what was removed as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ tidemark tag unassign --library ~/tidemark/laptop holiday ~/Photos/beach.jpg',
    )
    .action(async (ref: string, target: string, options: { library: string; json?: boolean }) => {
      const { tag, file } = await withLibrary(options.library, (library) =>
        library.write(async (tx) => {
          const tag = await resolveNamed(tx, 'tag', ref);
          const file = await findIndexedFile(tx, tx.deviceId, target);
          const rows = await readTagAssignments(tx, tag.uuid, file.contentUuid);
          if (rows.length === 0) {
            throw new TidemarkError('NOT_FOUND', `${file.absolutePath} does not have tag "${tag.name}"`);
          }
          for (const row of rows) await tx.delete('tag_assignment', row.uuid);
          return { tag, file };
        }),
      );
      if (options.json) {
        printJson({
          tagUuid: tag.uuid,
          tag: tag.name,
          path: file.absolutePath,
          contentUuid: file.contentUuid,
        });
      } else out(`removed tag "${tag.name}" from ${file.absolutePath}`);
    });
}

/** Assignments deleted per write transaction by `tag prune`. */
const PRUNE_BATCH = 5_000;

function registerPrune(tag: Command): void {
  tag
    .command('prune')
    .description(
      'delete the tag assignments that name a deleted tag (a tag removed on one device while another assigned it), on every device',
    )
    .requiredOption('--library <dir>', 'library directory')
    .option('--json', 'print the count as JSON')
    .addHelpText(
      'after',
      `
\`tag rm\` deletes a tag's assignments with it, but not one made on another device before the two
synced: that one arrives afterwards, names a tag that no longer exists, and stays on every device,
hidden (\`doctor\` counts them). Pruning deletes them with tombstones that travel to every device.
A tag not received yet (its assignment came first) is not deleted, so nothing is pruned early.

Examples:
  $ tidemark tag prune --library ~/tidemark/laptop`,
    )
    .action(async (options: { library: string; json?: boolean }) => {
      const deleted = await withLibrary(options.library, async (library) => {
        let count = 0;
        let after = '';
        for (;;) {
          const done = await library.write(async (tx) => {
            const uuids = await readAssignmentsOfDeletedTags(tx, after, PRUNE_BATCH);
            for (const uuid of uuids) await tx.delete('tag_assignment', uuid);
            count += uuids.length;
            after = uuids.at(-1) ?? after;
            return uuids.length < PRUNE_BATCH;
          });
          if (done) return count;
        }
      });
      if (options.json) printJson({ deleted });
      else out(`deleted ${formatCount(deleted)} tag assignment(s) of deleted tags`);
    });
}

export function registerTag(program: Command): void {
  const tag = program
    .command('tag')
    .description('create, rename, remove, list and assign tags (shared across devices, last writer wins)')
    .addHelpText(
      'after',
      `
Examples:
  $ tidemark tag add --library ~/tidemark/laptop holiday --color '#ff8800'
  $ tidemark tag assign --library ~/tidemark/laptop holiday ~/Photos/beach.jpg
  $ tidemark tag list --library ~/tidemark/laptop
  $ tidemark tag prune --library ~/tidemark/laptop`,
    );
  registerAdd(tag);
  registerRm(tag);
  registerRename(tag);
  registerList(tag);
  registerAssign(tag);
  registerUnassign(tag);
  registerPrune(tag);
}
