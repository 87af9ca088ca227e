import {
  Library,
  LibrarySyncService,
  readEntriesOfLocation,
  readRecords,
  readResourceHeads,
  readTombstones,
  RecordOf,
  RESOURCE_NAMES,
  ResourceName,
  resourceTypeOf,
  syncFromPeer$,
} from '@tidemark/engine';
import { InMemoryTransport } from '@tidemark/engine/testing';
import { Entry, EntryKind } from '@tidemark/proto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lastValueFrom } from 'rxjs';
import type { IndexSummary } from '../src/indexer/index-location';

/** An independent walk (sync fs calls, no indexer code): relative path -> kind of what can be indexed. */
export function independentWalk(root: string): Map<string, EntryKind> {
  const found = new Map<string, EntryKind>();
  const visit = (dir: string, prefix: string) => {
    for (const name of fs.readdirSync(dir)) {
      const relative = prefix ? `${prefix}/${name}` : name;
      const stats = fs.lstatSync(path.join(dir, name));
      if (stats.isDirectory()) {
        found.set(relative, EntryKind.ENTRY_KIND_DIRECTORY);
        visit(path.join(dir, name), relative);
      } else if (stats.isFile()) found.set(relative, EntryKind.ENTRY_KIND_FILE);
      else if (stats.isSymbolicLink()) found.set(relative, EntryKind.ENTRY_KIND_SYMLINK);
    }
  };
  visit(root, '');
  return found;
}

/**
 * Copies whole top-level packages of /usr/share/doc (symlinks kept as symlinks, mtimes kept)
 * until about `wanted` objects are copied; writes a synthetic tree where there is no such dir.
 */
export function copyDocSubset(target: string, wanted = 2_000): number {
  fs.mkdirSync(target, { recursive: true });
  const source = '/usr/share/doc';
  let copied = 0;
  if (fs.existsSync(source)) {
    for (const name of fs.readdirSync(source).sort()) {
      if (copied >= wanted) break;
      const to = path.join(target, name);
      fs.cpSync(path.join(source, name), to, {
        recursive: true,
        verbatimSymlinks: true,
        preserveTimestamps: true,
      });
      copied += 1 + (fs.lstatSync(to).isDirectory() ? independentWalk(to).size : 0);
    }
  }
  for (let i = 0; copied < wanted; i++) {
    const dir = path.join(target, `synthetic-${Math.floor(i / 50)}`);
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir);
      copied++;
    }
    fs.writeFileSync(path.join(dir, `file-${i}.txt`), `synthetic file ${i}\n`.repeat(1 + (i % 7)));
    copied++;
  }
  return copied;
}

export async function withLibraryAt<T>(dir: string, fn: (library: Library) => Promise<T>): Promise<T> {
  const library = await Library.open(Library.fileIn(dir));
  try {
    return await fn(library);
  } finally {
    await library.close();
  }
}

/** Rows of one type the library at `dir` holds. */
export const rowCountAt = (dir: string, name: ResourceName) =>
  withLibraryAt(dir, async (library) => {
    const heads = await readResourceHeads(library);
    return heads.find((head) => head.resourceType === resourceTypeOf(name))!.rowCount;
  });

/** Pulls everything `serverDir` has into `clientDir`, in process, through the wire encoding. */
export async function syncInProcess(clientDir: string, serverDir: string): Promise<void> {
  await withLibraryAt(serverDir, (server) =>
    withLibraryAt(clientDir, async (client) => {
      await lastValueFrom(syncFromPeer$(client, new InMemoryTransport(new LibrarySyncService(server))), {
        defaultValue: undefined,
      });
    }),
  );
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Every record of one type in the library at `dir`, in uuid order. */
export function recordsIn<N extends ResourceName>(dir: string, name: N): Promise<RecordOf[N][]> {
  return withLibraryAt(dir, (library) => collect(readRecords(library, name)));
}

/** The uuids of the tombstones the library at `dir` holds, of `names` (every type by default). */
export function tombstoneUuidsIn(
  dir: string,
  names: readonly ResourceName[] = RESOURCE_NAMES,
): Promise<string[]> {
  return withLibraryAt(dir, async (library) => {
    const uuids: string[] = [];
    for (const name of names)
      for await (const tombstone of readTombstones(library, name)) uuids.push(tombstone.uuid);
    return uuids;
  });
}

/** The uuids of the entries the library at `dir` holds. */
export function entryUuidsIn(dir: string): Promise<Set<string>> {
  return withLibraryAt(dir, async (library) => {
    const uuids = new Set<string>();
    for await (const entry of readRecords(library, 'entry')) uuids.add(entry.uuid);
    return uuids;
  });
}

/** Writes `text` to `relative` under `root`, making the directories on the way. */
export function writeUnder(root: string, relative: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(root, relative)), { recursive: true });
  fs.writeFileSync(path.join(root, relative), text);
}

export async function headSeq(dir: string): Promise<number> {
  return withLibraryAt(dir, (library) => library.headSeq());
}

/** What `tidemark index --json` prints: the indexer's own summary type. */
export type IndexJson = IndexSummary;

/** A location's entries in `library`, by relative path. */
export async function entriesOf(library: Library, locationUuid: string): Promise<Map<string, Entry>> {
  const stored = await collect(readEntriesOfLocation(library, locationUuid));
  return new Map(stored.map((entry) => [entry.relativePath, entry]));
}

/** The uuids of the entry tombstones in `library`. */
export async function entryTombstonesOf(library: Library): Promise<string[]> {
  return (await collect(readTombstones(library, 'entry'))).map((tombstone) => tombstone.uuid);
}

/**
 * The store is the disk: one entry per path under `root`, uuids unique, each of this location
 * and naming its parent's entry.
 */
export async function expectStoreIsDisk(library: Library, locationUuid: string, root: string): Promise<void> {
  const entries = await collect(readEntriesOfLocation(library, locationUuid));
  const stored = new Map(entries.map((entry) => [entry.relativePath, entry]));
  // One entry per path: a second entry of a path would be hidden by the map.
  expect(entries.length).toBe(stored.size);
  const onDisk: string[] = [];
  const visit = (relative: string) => {
    for (const name of fs.readdirSync(path.join(root, relative))) {
      const child = relative ? `${relative}/${name}` : name;
      onDisk.push(child);
      if (fs.lstatSync(path.join(root, child)).isDirectory()) visit(child);
    }
  };
  visit('');
  expect([...stored.keys()].sort()).toEqual(onDisk.sort());
  expect(new Set([...stored.values()].map((entry) => entry.uuid)).size).toBe(stored.size);
  for (const entry of stored.values()) {
    const parent = path.posix.dirname(entry.relativePath);
    expect([entry.relativePath, entry.parentUuid, entry.locationUuid]).toEqual([
      entry.relativePath,
      parent === '.' ? '' : stored.get(parent)!.uuid,
      locationUuid,
    ]);
  }
}
