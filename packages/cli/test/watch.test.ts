import {
  contentUuidOf,
  Library,
  readEntriesOfLocation,
  readEntryAt,
  readTagAssignments,
  readTombstones,
  tagAssignmentUuidOf,
} from '@tidemark/engine';
import { EntryKind } from '@tidemark/proto';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as parcelWatcher from '@parcel/watcher';
import * as sqlite3 from 'sqlite3';
import { indexLocation } from '../src/indexer/index-location';
import { LocationWatcher, Subscribe } from '../src/indexer/location-watcher';
import { createLogger } from '@tidemark/node';
import { freePort, NodeProcess, removeTempDirs, runCliJson, tempDir, waitFor } from './harness';
import { collect, independentWalk, IndexJson, tombstoneUuidsIn, withLibraryAt } from './index-helpers';
import { IndexSummary } from '../src/indexer/index-location';

afterAll(removeTempDirs);

/** Generous: the machine running the tests may be slow; the claim is "it arrives", not how fast. */
const ARRIVES_MS = 60_000;

/** path -> [kind, content uuid] of a location's entries in the library at `dir`. */
async function entriesIn(dir: string, locationUuid: string): Promise<Map<string, [EntryKind, string]>> {
  return withLibraryAt(
    dir,
    async (library) =>
      new Map(
        (await collect(readEntriesOfLocation(library, locationUuid))).map((e) => [
          e.relativePath,
          [e.kind, e.contentUuid] as [EntryKind, string],
        ]),
      ),
  );
}

/** What the tree on disk should be as entries: path -> [kind, content uuid of the bytes]. */
function expectedOf(tree: string): Map<string, [EntryKind, string]> {
  const expected = new Map<string, [EntryKind, string]>();
  for (const [relative, kind] of independentWalk(tree)) {
    const content =
      kind === EntryKind.ENTRY_KIND_FILE
        ? contentUuidOf(
            createHash('sha256')
              .update(fs.readFileSync(path.join(tree, relative)))
              .digest('hex'),
          )
        : '';
    expected.set(relative, [kind, content]);
  }
  return expected;
}

const same = (a: Map<string, [EntryKind, string]>, b: Map<string, [EntryKind, string]>) =>
  JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

async function waitUntilMatches(
  dir: string,
  locationUuid: string,
  tree: string,
  what: string,
): Promise<void> {
  await waitFor(async () => same(await entriesIn(dir, locationUuid), expectedOf(tree)), ARRIVES_MS, what);
}

test('a watched location: create, modify, rename, delete and a removed directory reach a follower; a restart rescans what changed while down', async () => {
  const [dirA, dirB, base] = [tempDir(), tempDir(), tempDir()];
  const tree = path.join(base, 'photos');
  fs.mkdirSync(path.join(tree, 'album', 'nested'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'keep.txt'), 'keep\n');
  fs.writeFileSync(path.join(tree, 'album', 'one.jpg'), 'one\n');
  fs.writeFileSync(path.join(tree, 'album', 'nested', 'two.jpg'), 'two\n');
  const { libraryId } = await runCliJson<{ libraryId: string }>(['init', '--library', dirA]);
  await runCliJson(['init', '--library', dirB, '--library-id', libraryId]);
  const { locationUuid } = await runCliJson<IndexJson>(['index', '--library', dirA, tree]);

  const nodeA = new NodeProcess(dirA, await freePort(), [], ['--watch']);
  const nodeB = new NodeProcess(dirB, await freePort(), [nodeA.address]);
  await nodeA.start();
  await nodeB.start();
  try {
    await waitUntilMatches(dirB, locationUuid, tree, 'B to hold the indexed tree');

    fs.writeFileSync(path.join(tree, 'created.txt'), 'created\n');
    await waitUntilMatches(dirB, locationUuid, tree, 'a created file on B');

    fs.writeFileSync(path.join(tree, 'keep.txt'), 'keep, modified\n');
    await waitUntilMatches(dirB, locationUuid, tree, 'a modified file on B');

    const uuidOnB = async (relativePath: string) =>
      withLibraryAt(dirB, async (library) => (await readEntryAt(library, locationUuid, relativePath))?.uuid);
    const createdUuid = await uuidOnB('created.txt');
    fs.renameSync(path.join(tree, 'created.txt'), path.join(tree, 'album', 'renamed.txt'));
    await waitUntilMatches(dirB, locationUuid, tree, 'a renamed file on B');
    // The move kept the entry: B holds the same uuid at the new path, and no tombstone for it.
    expect(await uuidOnB('album/renamed.txt')).toBe(createdUuid);
    expect(await tombstoneUuidsIn(dirB, ['entry'])).not.toContain(createdUuid);

    fs.rmSync(path.join(tree, 'album', 'one.jpg'));
    await waitUntilMatches(dirB, locationUuid, tree, 'a deleted file gone from B');

    fs.rmSync(path.join(tree, 'album'), { recursive: true });
    await waitUntilMatches(dirB, locationUuid, tree, 'a removed directory gone from B');
    expect([...(await entriesIn(dirB, locationUuid)).keys()].some((p) => p.startsWith('album'))).toBe(false);

    // Changes made while the watching node is down are found by the rescan at its start.
    expect(await nodeA.stop()).toBe(0);
    fs.writeFileSync(path.join(tree, 'while-down.txt'), 'written while the node was down\n');
    fs.rmSync(path.join(tree, 'keep.txt'));
    fs.mkdirSync(path.join(tree, 'new-dir'));
    fs.writeFileSync(path.join(tree, 'new-dir', 'inside.txt'), 'inside\n');
    await nodeA.start();
    await waitUntilMatches(dirB, locationUuid, tree, 'changes made while A was down on B');
    expect(nodeA.output).toContain('"reason":"start"');
  } finally {
    await nodeB.stop();
    await nodeA.stop();
  }
});

test('a location indexed while the node watches is watched at once, with no restart', async () => {
  const [dir, base] = [tempDir(), tempDir()];
  const tree = path.join(base, 'music');
  fs.mkdirSync(path.join(tree, 'album'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'album', 'one.flac'), 'one\n');
  await runCliJson(['init', '--library', dir]);
  const node = new NodeProcess(dir, await freePort(), [], ['--watch']);
  await node.start();
  try {
    // Indexed by another process writing the same library, as a user does.
    const { locationUuid } = await runCliJson<IndexJson>(['index', '--library', dir, tree]);
    await waitFor(
      async () => node.output.includes('"msg":"watching location"'),
      ARRIVES_MS,
      'the node to watch the new location',
    );
    fs.writeFileSync(path.join(tree, 'album', 'two.flac'), 'two\n');
    fs.rmSync(path.join(tree, 'album', 'one.flac'));
    await waitUntilMatches(dir, locationUuid, tree, 'changes in the new location in the library');
  } finally {
    expect(await node.stop()).toBe(0);
  }
});

test.each([
  ['is the library directory itself', (dir: string) => dir],
  ['lies inside the library directory', (dir: string) => path.join(dir, 'photos')],
])('a watched location that %s sees its changes, and never the library files', async (_, locationIn) => {
  const dir = tempDir();
  await runCliJson(['init', '--library', dir]);
  const tree = locationIn(dir);
  fs.mkdirSync(path.join(tree, 'album'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'album', 'one.jpg'), 'one\n');
  const { locationUuid } = await runCliJson<IndexJson>(['index', '--library', dir, tree]);
  const node = new NodeProcess(dir, await freePort(), [], ['--watch']);
  await node.start();
  try {
    await waitFor(
      async () => node.output.includes('"msg":"watching location"'),
      ARRIVES_MS,
      'the node to watch the location',
    );
    fs.writeFileSync(path.join(tree, 'album', 'two.jpg'), 'two\n');
    await waitFor(
      async () => (await entriesIn(dir, locationUuid)).has('album/two.jpg'),
      ARRIVES_MS,
      'the new file in the library',
    );
    const paths = [...(await entriesIn(dir, locationUuid)).keys()].sort();
    expect(paths).toEqual(['album', 'album/one.jpg', 'album/two.jpg']);
  } finally {
    expect(await node.stop()).toBe(0);
  }
});

test('a location indexed by another process while the watcher runs over it holds one entry per path', async () => {
  // Two connections to one library file, as a node (the watcher) and `tidemark index` have: the
  // watcher starts a run over the location as soon as the index commits it, and both walk it.
  const root = tempDir();
  for (let d = 0; d < 100; d++) {
    const sub = path.join(root, `d${String(d).padStart(3, '0')}`);
    fs.mkdirSync(sub);
    for (let f = 0; f < 100; f++) fs.writeFileSync(path.join(sub, `f${f}.jpg`), `${d}/${f}\n`);
  }
  const file = Library.fileIn(tempDir());
  const nodeLibrary = await Library.create(file);
  const indexLibrary = await Library.open(file);
  // Another location of this device: a run looks up moves from it, and so which derived uuids
  // are held; the watcher gave each path the index had stored meanwhile a second, random one.
  const other = tempDir();
  fs.writeFileSync(path.join(other, 'x.jpg'), 'x\n');
  await indexLocation(nodeLibrary, other, { hashThreads: 0 });
  const runs: string[] = [];
  const watcher = await LocationWatcher.start(nodeLibrary, createLogger({ level: 'silent' }), {
    onIndexed: (_summary, _reason, location) => runs.push(location),
  });
  try {
    const { locationUuid } = await indexLocation(indexLibrary, root, { hashThreads: 0, batchSize: 500 });
    await waitFor(async () => runs.includes(root), ARRIVES_MS, "the watcher's run over the new location");
    await watcher.settled();
    const entries = await collect(readEntriesOfLocation(indexLibrary, locationUuid));
    const paths = new Set(entries.map((entry) => entry.relativePath));
    expect(paths.size).toBe(independentWalk(root).size);
    expect(entries.length).toBe(paths.size);
  } finally {
    await watcher.close();
    await indexLibrary.close();
    await nodeLibrary.close();
  }
});

test('a watcher error (events lost, as on a kernel queue overflow) rescans the location and loses nothing', async () => {
  const [libraryDir, tree] = [tempDir(), tempDir()];
  fs.writeFileSync(path.join(tree, 'a.txt'), 'a\n');
  const library = await Library.create(Library.fileIn(libraryDir));
  try {
    const { locationUuid } = await indexLocation(library, tree);
    // The real watcher, with its events withheld: only the error reaches the indexer.
    let reportError: ((error: Error) => void) | undefined;
    const dropping: Subscribe = async (dir, onEvents, options) => {
      reportError = (error) => onEvents(error, []);
      return parcelWatcher.subscribe(dir, () => undefined, options);
    };
    const logger = createLogger({ level: 'silent' });
    const watcher = await LocationWatcher.start(library, logger, { subscribe: dropping });
    try {
      expect(watcher.paths).toEqual([fs.realpathSync(tree)]);
      await watcher.settled();
      fs.writeFileSync(path.join(tree, 'b.txt'), 'b\n');
      fs.rmSync(path.join(tree, 'a.txt'));
      // No events are forwarded, so no run is scheduled and nothing has changed in the library.
      const stored = async () => [...(await entriesOfLibrary(library, locationUuid)).keys()];
      await watcher.settled();
      expect(await stored()).toEqual(['a.txt']);
      reportError!(new Error('Events were dropped'));
      await waitFor(async () => JSON.stringify(await stored()) === '["b.txt"]', ARRIVES_MS, 'the rescan');
    } finally {
      await watcher.close();
    }
  } finally {
    await library.close();
  }
});

test('a burst of events rescans only the directories it names, and a file moved between them keeps its entry', async () => {
  const [libraryDir, tree] = [tempDir(), tempDir()];
  fs.mkdirSync(path.join(tree, 'quiet', 'deep'), { recursive: true });
  for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(tree, 'quiet', 'deep', `f${i}`), `${i}\n`);
  fs.mkdirSync(path.join(tree, 'busy'));
  fs.writeFileSync(path.join(tree, 'busy', 'moving.txt'), 'moving\n');
  const library = await Library.create(Library.fileIn(libraryDir));
  const runs: { reason: string; summary: IndexSummary }[] = [];
  try {
    const { locationUuid } = await indexLocation(library, tree);
    const before = await readEntryAt(library, locationUuid, 'busy/moving.txt');
    const logger = createLogger({ level: 'silent' });
    const watcher = await LocationWatcher.start(library, logger, {
      onIndexed: (summary, reason) => runs.push({ reason, summary }),
    });
    try {
      await waitFor(async () => runs.length > 0, ARRIVES_MS, 'the start rescan');
      await watcher.settled();
      expect(runs[0]).toMatchObject({ reason: 'start', summary: { scanned: 204 } });

      fs.writeFileSync(path.join(tree, 'busy', 'new.txt'), 'new\n');
      await waitFor(
        async () => (await readEntryAt(library, locationUuid, 'busy/new.txt')) !== undefined,
        ARRIVES_MS,
        'busy/new.txt',
      );
      await watcher.settled();
      // busy and its children: never the 200 files of quiet/deep.
      const afterCreate = runs.slice(1);
      expect(afterCreate.every((run) => run.reason === 'events' && run.summary.scanned <= 3)).toBe(true);

      fs.renameSync(path.join(tree, 'busy', 'moving.txt'), path.join(tree, 'quiet', 'moved.txt'));
      await waitFor(
        async () => (await readEntryAt(library, locationUuid, 'quiet/moved.txt')) !== undefined,
        ARRIVES_MS,
        'quiet/moved.txt',
      );
      await watcher.settled();
      expect((await readEntryAt(library, locationUuid, 'quiet/moved.txt'))!.uuid).toBe(before!.uuid);
      expect(await readEntryAt(library, locationUuid, 'busy/moving.txt')).toBeUndefined();
      // quiet's own listing (quiet, deep, moved.txt) and busy's: deep's 200 files are not walked.
      const afterMove = runs.slice(1 + afterCreate.length);
      expect(afterMove.reduce((sum, run) => sum + run.summary.scanned, 0)).toBeLessThan(20);
      expect(afterMove.reduce((sum, run) => sum + run.summary.moved, 0)).toBe(1);
      expect(afterMove.reduce((sum, run) => sum + run.summary.deleted, 0)).toBe(0);
    } finally {
      await watcher.close();
    }
  } finally {
    await library.close();
  }
});

test('a rename whose delete and create come in two bursts of events keeps its entry; what stays gone is deleted after the move window', async () => {
  const [libraryDir, tree, outside] = [tempDir(), tempDir(), tempDir()];
  fs.mkdirSync(path.join(tree, 'a'));
  fs.mkdirSync(path.join(tree, 'b'));
  fs.writeFileSync(path.join(tree, 'a', 'moving.txt'), 'moving\n');
  fs.writeFileSync(path.join(tree, 'a', 'doomed.txt'), 'doomed\n');
  const library = await Library.create(Library.fileIn(libraryDir));
  const runs: { reason: string; summary: IndexSummary }[] = [];
  const deletedSince = (from: number) => runs.slice(from).reduce((sum, run) => sum + run.summary.deleted, 0);
  const entryTombstones = async () => (await collect(readTombstones(library, 'entry'))).map((t) => t.uuid);
  try {
    const { locationUuid } = await indexLocation(library, tree);
    const moving = (await readEntryAt(library, locationUuid, 'a/moving.txt'))!;
    const doomed = (await readEntryAt(library, locationUuid, 'a/doomed.txt'))!;
    const logger = createLogger({ level: 'silent' });
    // Long enough that the second burst below comes well within it, even on a slow machine.
    const watcher = await LocationWatcher.start(library, logger, {
      moveWindowMs: 15_000,
      onIndexed: (summary, reason) => runs.push({ reason, summary }),
    });
    try {
      await waitFor(async () => runs.length > 0, ARRIVES_MS, 'the start rescan');
      await watcher.settled();

      // First burst: the file leaves the location (for a directory outside it, same file system).
      const first = runs.length;
      fs.renameSync(path.join(tree, 'a', 'moving.txt'), path.join(outside, 'moving.txt'));
      await waitFor(async () => runs.length > first, ARRIVES_MS, 'the run of the first burst');
      await watcher.settled();
      // Kept, not deleted: a later burst may bring it back.
      expect(deletedSince(first)).toBe(0);
      expect((await readEntryAt(library, locationUuid, 'a/moving.txt'))?.uuid).toBe(moving.uuid);

      // Second burst, a run of its own: it comes back under another name.
      const second = runs.length;
      fs.renameSync(path.join(outside, 'moving.txt'), path.join(tree, 'b', 'moved.txt'));
      await waitFor(
        async () => (await readEntryAt(library, locationUuid, 'b/moved.txt')) !== undefined,
        ARRIVES_MS,
        'b/moved.txt',
      );
      await watcher.settled();
      expect((await readEntryAt(library, locationUuid, 'b/moved.txt'))!.uuid).toBe(moving.uuid);
      expect(await readEntryAt(library, locationUuid, 'a/moving.txt')).toBeUndefined();
      expect(runs.slice(second).reduce((sum, run) => sum + run.summary.moved, 0)).toBe(1);
      expect(await entryTombstones()).not.toContain(moving.uuid);

      // A file that stays gone is deleted, with a tombstone, once the window has passed.
      const third = runs.length;
      fs.rmSync(path.join(tree, 'a', 'doomed.txt'));
      await waitFor(
        async () => (await readEntryAt(library, locationUuid, 'a/doomed.txt')) === undefined,
        ARRIVES_MS,
        'the deletion after the move window',
      );
      await watcher.settled();
      expect(deletedSince(third)).toBe(1);
      expect(await entryTombstones()).toContain(doomed.uuid);
      expect(same(await entriesIn(libraryDir, locationUuid), expectedOf(tree))).toBe(true);
    } finally {
      await watcher.close();
    }
  } finally {
    await library.close();
  }
});

/** The real watcher, with a way to report a watcher error (as on a kernel queue overflow) at will. */
function erringWatcher(): { subscribe: Subscribe; reportError: () => void } {
  const reporters: ((error: Error) => void)[] = [];
  return {
    subscribe: async (dir, onEvents, options) => {
      reporters.push((error) => onEvents(error, []));
      return parcelWatcher.subscribe(dir, onEvents, options);
    },
    reportError: () => reporters.forEach((report) => report(new Error('Events were dropped'))),
  };
}

/** A tag on the content of the entry at `relativePath`: tags follow content, so a move must keep the content. */
async function tagContentAt(library: Library, locationUuid: string, relativePath: string): Promise<string> {
  const entry = (await readEntryAt(library, locationUuid, relativePath))!;
  const tagUuid = '0b7a6c1e-0000-4000-8000-000000000001';
  await library.write(async (tx) => {
    await tx.put('tag', { uuid: tagUuid, name: 'kept', color: '' });
    await tx.put('tag_assignment', {
      uuid: tagAssignmentUuidOf(tagUuid, entry.contentUuid),
      tagUuid,
      contentUuid: entry.contentUuid,
    });
  });
  return tagUuid;
}

test('a move whose two halves fall on either side of a whole rescan (a watcher error, a restart) keeps its entry and its tag', async () => {
  const [libraryDir, tree, outside] = [tempDir(), tempDir(), tempDir()];
  fs.mkdirSync(path.join(tree, 'a'));
  fs.mkdirSync(path.join(tree, 'b'));
  fs.writeFileSync(path.join(tree, 'a', 'one.txt'), 'one\n');
  fs.writeFileSync(path.join(tree, 'a', 'two.txt'), 'two\n');
  const library = await Library.create(Library.fileIn(libraryDir));
  const runs: { reason: string; summary: IndexSummary }[] = [];
  const since = (from: number, key: 'deleted' | 'moved') =>
    runs.slice(from).reduce((sum, run) => sum + run.summary[key], 0);
  const entryTombstones = async () => (await collect(readTombstones(library, 'entry'))).map((t) => t.uuid);
  const logger = createLogger({ level: 'silent' });
  // Long enough that every step below comes well within it, even on a slow machine.
  const moveWindowMs = 30_000;
  try {
    const { locationUuid } = await indexLocation(library, tree);
    const one = (await readEntryAt(library, locationUuid, 'a/one.txt'))!;
    const two = (await readEntryAt(library, locationUuid, 'a/two.txt'))!;
    const tagUuid = await tagContentAt(library, locationUuid, 'a/one.txt');

    // 1. A watcher error between the two halves: its whole rescan must keep the entry.
    const erring = erringWatcher();
    let watcher = await LocationWatcher.start(library, logger, {
      moveWindowMs,
      subscribe: erring.subscribe,
      onIndexed: (summary, reason) => runs.push({ reason, summary }),
    });
    try {
      await waitFor(async () => runs.length > 0, ARRIVES_MS, 'the start rescan');
      await watcher.settled();
      const first = runs.length;
      fs.renameSync(path.join(tree, 'a', 'one.txt'), path.join(outside, 'one.txt'));
      await waitFor(async () => runs.length > first, ARRIVES_MS, 'the run of the first half');
      await watcher.settled();
      erring.reportError();
      await waitFor(
        async () => runs.slice(first).some((run) => run.reason === 'watcher-error'),
        ARRIVES_MS,
        'the whole rescan',
      );
      await watcher.settled();
      expect(since(first, 'deleted')).toBe(0);
      expect((await readEntryAt(library, locationUuid, 'a/one.txt'))?.uuid).toBe(one.uuid);

      const second = runs.length;
      fs.renameSync(path.join(outside, 'one.txt'), path.join(tree, 'b', 'one.txt'));
      await waitFor(
        async () => (await readEntryAt(library, locationUuid, 'b/one.txt')) !== undefined,
        ARRIVES_MS,
        'b/one.txt',
      );
      await watcher.settled();
      const moved = (await readEntryAt(library, locationUuid, 'b/one.txt'))!;
      expect(moved.uuid).toBe(one.uuid);
      expect(moved.contentUuid).toBe(one.contentUuid);
      expect(since(second, 'moved')).toBe(1);
      expect(await readEntryAt(library, locationUuid, 'a/one.txt')).toBeUndefined();
    } finally {
      await watcher.close();
    }

    // 2. The first half while the node is stopped: the next node's start rescan must keep it too.
    fs.renameSync(path.join(tree, 'a', 'two.txt'), path.join(outside, 'two.txt'));
    const third = runs.length;
    watcher = await LocationWatcher.start(library, logger, {
      moveWindowMs,
      onIndexed: (summary, reason) => runs.push({ reason, summary }),
    });
    try {
      await waitFor(
        async () => runs.slice(third).some((run) => run.reason === 'start'),
        ARRIVES_MS,
        'the start rescan',
      );
      await watcher.settled();
      expect(since(third, 'deleted')).toBe(0);
      expect((await readEntryAt(library, locationUuid, 'a/two.txt'))?.uuid).toBe(two.uuid);
      fs.renameSync(path.join(outside, 'two.txt'), path.join(tree, 'b', 'two.txt'));
      await waitFor(
        async () => (await readEntryAt(library, locationUuid, 'b/two.txt')) !== undefined,
        ARRIVES_MS,
        'b/two.txt',
      );
      await watcher.settled();
      expect((await readEntryAt(library, locationUuid, 'b/two.txt'))!.uuid).toBe(two.uuid);
      expect(since(third, 'moved')).toBe(1);
      expect(since(0, 'deleted')).toBe(0);
      expect(await entryTombstones()).toEqual([]);
      // The tag follows the content, which the move kept.
      expect(await readTagAssignments(library, tagUuid, one.contentUuid)).toHaveLength(1);
      expect(same(await entriesIn(libraryDir, locationUuid), expectedOf(tree))).toBe(true);
    } finally {
      await watcher.close();
    }
  } finally {
    await library.close();
  }
});

/** Whether this process may mount a tmpfs (root, with CAP_SYS_ADMIN): then the test below runs. */
function canMount(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = tempDir();
  try {
    execFileSync('mount', ['-t', 'tmpfs', 'none', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

(canMount() ? test : test.skip)(
  'a location whose disk is unmounted (its mount point left empty) is not emptied by a rescan; its entries are kept',
  async () => {
    const [libraryDir, mountPoint, logs] = [tempDir(), tempDir(), tempDir()];
    const logFile = path.join(logs, 'watch.log');
    execFileSync('mount', ['-t', 'tmpfs', 'none', mountPoint], { stdio: 'ignore' });
    let mounted = true;
    const library = await Library.create(Library.fileIn(libraryDir));
    try {
      fs.writeFileSync(path.join(mountPoint, 'a.txt'), 'a\n');
      fs.mkdirSync(path.join(mountPoint, 'd'));
      fs.writeFileSync(path.join(mountPoint, 'd', 'b.txt'), 'b\n');
      const { locationUuid } = await indexLocation(library, mountPoint);
      const stored = async () => [...(await entriesOfLibrary(library, locationUuid)).keys()].sort();
      const erring = erringWatcher();
      const watcher = await LocationWatcher.start(library, createLogger({ level: 'info', file: logFile }), {
        subscribe: erring.subscribe,
        moveWindowMs: 100,
      });
      const warnings = () =>
        fs.existsSync(logFile)
          ? fs.readFileSync(logFile, 'utf8').split('"msg":"location is not on the volume').length - 1
          : 0;
      try {
        await watcher.settled();
        execFileSync('umount', [mountPoint], { stdio: 'ignore' });
        mounted = false;
        // The mount point is an empty directory of the disk below now. Two whole rescans, the
        // second well past the move window: a run that went ahead would have deleted everything.
        for (const expected of [1, 2]) {
          erring.reportError();
          await waitFor(
            async () => warnings() >= expected,
            ARRIVES_MS,
            `whole rescan ${expected} to be refused`,
          );
          await watcher.settled();
        }
        expect(await stored()).toEqual(['a.txt', 'd', 'd/b.txt']);
        expect(await collect(readTombstones(library, 'entry'))).toEqual([]);
      } finally {
        await watcher.close();
      }
    } finally {
      await library.close();
      if (mounted) execFileSync('umount', [mountPoint], { stdio: 'ignore' });
    }
  },
);

test('a periodic whole rescan finds a change that no event reported', async () => {
  const [libraryDir, tree] = [tempDir(), tempDir()];
  fs.writeFileSync(path.join(tree, 'a.txt'), 'a\n');
  const library = await Library.create(Library.fileIn(libraryDir));
  try {
    const { locationUuid } = await indexLocation(library, tree);
    // The real watcher with every event withheld: only the periodic rescan can see the change.
    const deaf: Subscribe = (dir, _onEvents, options) =>
      parcelWatcher.subscribe(dir, () => undefined, options);
    const reasons: string[] = [];
    const logger = createLogger({ level: 'silent' });
    const watcher = await LocationWatcher.start(library, logger, {
      subscribe: deaf,
      fullRescanMs: 200,
      onIndexed: (_summary, reason) => reasons.push(reason),
    });
    try {
      await waitFor(async () => reasons.includes('start'), ARRIVES_MS, 'the start rescan');
      fs.writeFileSync(path.join(tree, 'b.txt'), 'b\n');
      const stored = async () => [...(await entriesOfLibrary(library, locationUuid)).keys()];
      await waitFor(async () => (await stored()).includes('b.txt'), ARRIVES_MS, 'the periodic rescan');
      // No event reached the watcher: after the start rescan, every run was a periodic one.
      expect(reasons.filter((reason) => reason !== 'periodic')).toEqual(['start']);
    } finally {
      await watcher.close();
    }
  } finally {
    await library.close();
  }
});

test('a failed run (the library kept busy by another writer) is retried as a whole rescan, with no new event', async () => {
  const [libraryDir, tree, logs] = [tempDir(), tempDir(), tempDir()];
  fs.writeFileSync(path.join(tree, 'a.txt'), 'a\n');
  const library = await Library.create(Library.fileIn(libraryDir));
  const logFile = path.join(logs, 'watch.log');
  try {
    const { locationUuid } = await indexLocation(library, tree);
    const logger = createLogger({ level: 'info', file: logFile });
    const watcher = await LocationWatcher.start(library, logger, { retryMs: 200 });
    try {
      await watcher.settled();
      // Another process's long write transaction: the run's write waits out SQLite's busy timeout.
      const blocker = await new Promise<sqlite3.Database>((resolve, reject) => {
        const db = new sqlite3.Database(library.file, (error) => (error ? reject(error) : resolve(db)));
      });
      const exec = (sql: string) =>
        new Promise<void>((resolve, reject) =>
          blocker.exec(sql, (error) => (error ? reject(error) : resolve())),
        );
      await exec('BEGIN IMMEDIATE');
      fs.writeFileSync(path.join(tree, 'b.txt'), 'b\n');
      await waitFor(
        async () =>
          fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('"msg":"indexing failed"'),
        ARRIVES_MS,
        'the run to fail on the busy library',
      );
      await exec('ROLLBACK');
      await new Promise<void>((resolve, reject) =>
        blocker.close((error) => (error ? reject(error) : resolve())),
      );
      // Nothing changes on disk from here: only the retry can write b.txt.
      const stored = async () => [...(await entriesOfLibrary(library, locationUuid)).keys()].sort();
      await waitFor(
        async () => JSON.stringify(await stored()) === '["a.txt","b.txt"]',
        ARRIVES_MS,
        'the retry',
      );
      expect(fs.readFileSync(logFile, 'utf8')).toContain('"reason":"retry"');
    } finally {
      await watcher.close();
    }
  } finally {
    await library.close();
  }
});

async function entriesOfLibrary(library: Library, locationUuid: string): Promise<Map<string, EntryKind>> {
  return new Map(
    (await collect(readEntriesOfLocation(library, locationUuid))).map((e) => [e.relativePath, e.kind]),
  );
}
