import { readEntryAt, readLocationsOfDevice, ReadScope, TidemarkError } from '@tidemark/engine';
import { EntryKind } from '@tidemark/proto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface IndexedFile {
  readonly absolutePath: string;
  readonly entryUuid: string;
  readonly contentUuid: string;
}

/**
 * Locations store real paths and entries are never followed through symlinks, so only the
 * directory part is resolved: a symlink named on the command line is found as the symlink.
 */
function canonical(target: string): string {
  const absolute = path.resolve(target);
  try {
    return path.join(fs.realpathSync(path.dirname(absolute)), path.basename(absolute));
  } catch {
    return absolute;
  }
}

function relativeInside(root: string, absolute: string): string | undefined {
  const relative = path.relative(root, absolute);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return undefined;
  return relative.split(path.sep).join('/');
}

const notAFile = (absolutePath: string, what: string) =>
  new TidemarkError('INVALID_ARGUMENT', `${absolutePath} is ${what}; tags attach to the content of files`);

/** The indexed regular file at `target` (absolute path = location path + relative path) on this device. */
export async function findIndexedFile(
  scope: ReadScope,
  deviceId: string,
  target: string,
): Promise<IndexedFile> {
  const absolutePath = canonical(target);
  const locations = (await readLocationsOfDevice(scope, deviceId)).sort(
    (a, b) => b.path.length - a.path.length,
  );
  let inside = false;
  // Nested locations: the innermost one that holds the entry wins.
  for (const location of locations) {
    // The indexed folder itself: a directory, not a path outside every location.
    if (path.relative(location.path, absolutePath) === '') throw notAFile(absolutePath, 'a directory');
    const relativePath = relativeInside(location.path, absolutePath);
    if (relativePath === undefined) continue;
    inside = true;
    const entry = await readEntryAt(scope, location.uuid, relativePath);
    if (!entry) continue;
    if (entry.kind !== EntryKind.ENTRY_KIND_FILE) {
      throw notAFile(
        absolutePath,
        entry.kind === EntryKind.ENTRY_KIND_DIRECTORY ? 'a directory' : 'a symlink',
      );
    }
    if (!entry.contentUuid) {
      throw new TidemarkError(
        'NOT_FOUND',
        `${absolutePath} has no content identity yet; re-run \`tidemark index\``,
      );
    }
    return { absolutePath, entryUuid: entry.uuid, contentUuid: entry.contentUuid };
  }
  throw new TidemarkError(
    'NOT_FOUND',
    inside
      ? `${absolutePath} is not indexed; re-run \`tidemark index\` on its location`
      : `${absolutePath} is not inside an indexed location; index it first with \`tidemark index\``,
  );
}
