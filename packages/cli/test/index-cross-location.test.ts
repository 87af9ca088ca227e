/**
 * A file or directory moved from one location to another of the same device (same file system)
 * keeps its entry (moved-entries.ts): real files renamed on disk, the real indexer, real
 * libraries; a follower pulls through the sync service and sees the move as one change.
 */
import {
  Library,
  readEntriesByInode,
  readEntryAt,
  readTagAssignments,
  recordEntryFileIds,
  tagAssignmentUuidOf,
} from '@tidemark/engine';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createLogger } from '@tidemark/node';
import { indexLocation, IndexOptions, IndexSummary } from '../src/indexer/index-location';
import { indexLocations } from '../src/indexer/index-locations';
import { LocationWatcher } from '../src/indexer/location-watcher';
import { otherLocationsOf } from '../src/indexer/moved-entries';
import {
  entriesOf,
  entryTombstonesOf as entryTombstones,
  expectStoreIsDisk,
  syncInProcess,
  withLibraryAt,
  writeUnder,
} from './index-helpers';
import { initDevicesOfOneLibrary, removeTempDirs, runCliJson, tempDir, waitFor } from './harness';

afterAll(removeTempDirs);

/** Generous: the machine running the tests may be slow; the claim is "it arrives", not how fast. */
const ARRIVES_MS = 60_000;

/** Two locations side by side on one file system: A with a file and a directory of three, B with one file. */
function twoLocations(): { a: string; b: string } {
  const [a, b] = [tempDir(), tempDir()];
  writeUnder(a, 'docs/report.txt', 'report\n');
  writeUnder(a, 'docs/stays.txt', 'stays\n');
  for (const name of ['x', 'y', 'z']) writeUnder(a, `photos/${name}.jpg`, `photo ${name}\n`);
  writeUnder(b, 'own.txt', 'own\n');
  return { a, b };
}

function moveAcross(a: string, b: string): void {
  fs.renameSync(path.join(a, 'docs', 'report.txt'), path.join(b, 'report.txt'));
  fs.mkdirSync(path.join(b, 'albums'));
  fs.renameSync(path.join(a, 'photos'), path.join(b, 'albums', 'photos'));
}

const MOVED = [
  'report.txt',
  'albums/photos',
  'albums/photos/x.jpg',
  'albums/photos/y.jpg',
  'albums/photos/z.jpg',
];
const FROM = ['docs/report.txt', 'photos', 'photos/x.jpg', 'photos/y.jpg', 'photos/z.jpg'];

test.each([2, 5_000])(
  'tidemark index of the destination after a move from another location keeps every entry, its content and its tag; a follower sees one change per entry (batches of %d)',
  async (batchSize) => {
    const options: IndexOptions = { batchSize, hashThreads: 0 };
    const {
      dirs: [dirA, follower],
    } = await initDevicesOfOneLibrary(2);
    const { a, b } = twoLocations();
    const tagUuid = '0b7a6c1e-0000-4000-8000-000000000002';
    const { first, second, before } = await withLibraryAt(dirA, async (library) => {
      const first = await indexLocation(library, a, options);
      const second = await indexLocation(library, b, options);
      const before = await entriesOf(library, first.locationUuid);
      const report = before.get('docs/report.txt')!;
      await library.write(async (tx) => {
        await tx.put('tag', { uuid: tagUuid, name: 'kept', color: '' });
        await tx.put('tag_assignment', {
          uuid: tagAssignmentUuidOf(tagUuid, report.contentUuid),
          tagUuid,
          contentUuid: report.contentUuid,
        });
      });
      return { first, second, before };
    });
    await syncInProcess(follower, dirA);
    const contentOfReport = before.get('docs/report.txt')!.contentUuid;

    moveAcross(a, b);
    await withLibraryAt(dirA, async (library) => {
      // The destination first: its new paths claim the entries whose paths in A are gone.
      const intoB = await indexLocation(library, b, options);
      expect(intoB).toMatchObject({ moved: MOVED.length, added: 1, deleted: 0, hashed: 0 });
      const afterB = await entriesOf(library, second.locationUuid);
      MOVED.forEach((relativePath, i) => {
        const from = before.get(FROM[i])!;
        expect(afterB.get(relativePath)).toMatchObject({ uuid: from.uuid, contentUuid: from.contentUuid });
      });
      await expectStoreIsDisk(library, second.locationUuid, b);
      // Then the source: what moved away is no longer its own, so nothing is deleted there.
      const fromA = await indexLocation(library, a, options);
      expect(fromA).toMatchObject({ deleted: 0, moved: 0, added: 0 });
      await expectStoreIsDisk(library, first.locationUuid, a);
      expect(await entryTombstones(library)).toEqual([]);
      expect(await readTagAssignments(library, tagUuid, contentOfReport)).toHaveLength(1);
      // Re-indexing B now changes nothing, and the moved entries' files were recorded under B:
      // a rename within B afterwards is a move there too.
      expect(await indexLocation(library, b, options)).toMatchObject({ hashed: 0, transactions: 0 });
      const inode = fs.lstatSync(path.join(b, 'report.txt')).ino;
      expect((await readEntriesByInode(library, second.locationUuid, [inode])).map((e) => e.uuid)).toEqual([
        before.get('docs/report.txt')!.uuid,
      ]);
      fs.renameSync(path.join(b, 'report.txt'), path.join(b, 'albums', 'report.txt'));
      expect(await indexLocation(library, b, options)).toMatchObject({ moved: 1, added: 0, deleted: 0 });
      expect((await readEntryAt(library, second.locationUuid, 'albums/report.txt'))?.uuid).toBe(
        before.get('docs/report.txt')!.uuid,
      );
    });

    await syncInProcess(follower, dirA);
    await withLibraryAt(follower, async (replica) => {
      // The follower applied the same puts: the same uuids, now in B, and no tombstone at all.
      expect(await entryTombstones(replica)).toEqual([]);
      const onFollower = new Set(
        [...(await entriesOf(replica, second.locationUuid)).values()].map((e) => e.uuid),
      );
      for (const from of FROM) expect(onFollower.has(before.get(from)!.uuid)).toBe(true);
      expect([...(await entriesOf(replica, first.locationUuid)).keys()].sort()).toEqual([
        'docs',
        'docs/stays.txt',
      ]);
    });
  },
);

test.each([
  ['A B', false],
  ['B A', true],
])(
  'tidemark index of both locations in one go (%s): moves both ways keep their entries whichever is walked first; what is gone is deleted at the end',
  async (_order, reversed) => {
    const library = await Library.create(Library.fileIn(tempDir()));
    const { a, b } = twoLocations();
    try {
      const first = await indexLocation(library, a, { hashThreads: 0 });
      const second = await indexLocation(library, b, { hashThreads: 0 });
      const report = (await readEntryAt(library, first.locationUuid, 'docs/report.txt'))!;
      const own = (await readEntryAt(library, second.locationUuid, 'own.txt'))!;
      const stays = (await readEntryAt(library, first.locationUuid, 'docs/stays.txt'))!;
      fs.renameSync(path.join(a, 'docs', 'report.txt'), path.join(b, 'report.txt'));
      fs.renameSync(path.join(b, 'own.txt'), path.join(a, 'own.txt'));
      fs.rmSync(path.join(a, 'docs', 'stays.txt'));
      const [fromA, intoB] = reversed
        ? (await indexLocations(library, [b, a], { hashThreads: 0, batchSize: 2 })).reverse()
        : await indexLocations(library, [a, b], { hashThreads: 0, batchSize: 2 });
      expect((await readEntryAt(library, second.locationUuid, 'report.txt'))?.uuid).toBe(report.uuid);
      expect((await readEntryAt(library, first.locationUuid, 'own.txt'))?.uuid).toBe(own.uuid);
      expect(fromA).toMatchObject({ locationUuid: first.locationUuid, moved: 1, deleted: 1 });
      expect(intoB).toMatchObject({ locationUuid: second.locationUuid, moved: 1, deleted: 0 });
      expect(await entryTombstones(library)).toEqual([stays.uuid]);
      await expectStoreIsDisk(library, first.locationUuid, a);
      await expectStoreIsDisk(library, second.locationUuid, b);
    } finally {
      await library.close();
    }
  },
);

test('tidemark index A B (the command): one summary per location, and the move between them kept', async () => {
  const libraryDir = tempDir();
  const { a, b } = twoLocations();
  await runCliJson(['init', '--library', libraryDir]);
  const [first, second] = await runCliJson<IndexSummary[]>([
    'index',
    '--library',
    libraryDir,
    a,
    b,
    '--json',
  ]);
  fs.renameSync(path.join(a, 'docs', 'report.txt'), path.join(b, 'report.txt'));
  const again = await runCliJson<IndexSummary[]>(['index', '--library', libraryDir, a, b, '--json']);
  expect(again.map((summary) => summary.locationUuid)).toEqual([first.locationUuid, second.locationUuid]);
  expect(again.map(({ moved, deleted, added }) => ({ moved, deleted, added }))).toEqual([
    { moved: 0, deleted: 0, added: 0 },
    { moved: 1, deleted: 0, added: 0 },
  ]);
  // One folder still prints one summary, not an array of one.
  const single = await runCliJson<IndexSummary>(['index', '--library', libraryDir, b, '--json']);
  expect(single).toMatchObject({ locationUuid: second.locationUuid, unchanged: 2 });
});

test('an entry claimed by another location while a run of its own location holds it as gone is not deleted by that run', async () => {
  const library = await Library.create(Library.fileIn(tempDir()));
  const { a, b } = twoLocations();
  try {
    const first = await indexLocation(library, a, { hashThreads: 0 });
    const second = await indexLocation(library, b, { hashThreads: 0 });
    const report = (await readEntryAt(library, first.locationUuid, 'docs/report.txt'))!;
    fs.renameSync(path.join(a, 'docs', 'report.txt'), path.join(b, 'report.txt'));
    // A's run finds report.txt gone; just before it writes the deletion, B's run (another
    // watcher, another process) claims the entry as moved into B.
    const write = library.write.bind(library);
    let writes = 0;
    let intoB: IndexSummary | undefined;
    library.write = (async (fn: Parameters<Library['write']>[0]) => {
      if (++writes === 2 && intoB === undefined) {
        intoB = await indexLocation(library, b, { hashThreads: 0 });
      }
      return write(fn);
    }) as Library['write'];
    const fromA = await indexLocation(library, a, { hashThreads: 0 });
    library.write = write;
    expect(intoB).toMatchObject({ moved: 1 });
    expect(fromA).toMatchObject({ deleted: 0 });
    expect((await readEntryAt(library, second.locationUuid, 'report.txt'))?.uuid).toBe(report.uuid);
    expect(await entryTombstones(library)).toEqual([]);
    await expectStoreIsDisk(library, first.locationUuid, a);
    await expectStoreIsDisk(library, second.locationUuid, b);
  } finally {
    await library.close();
  }
});

test('node --watch: a file renamed from one watched location into another keeps its entry', async () => {
  const library = await Library.create(Library.fileIn(tempDir()));
  const { a, b } = twoLocations();
  const runs: { location: string; summary: IndexSummary }[] = [];
  try {
    const first = await indexLocation(library, a);
    const second = await indexLocation(library, b);
    const report = (await readEntryAt(library, first.locationUuid, 'docs/report.txt'))!;
    const watcher = await LocationWatcher.start(library, createLogger({ level: 'silent' }), {
      onIndexed: (summary, _reason, location) => runs.push({ location, summary }),
    });
    try {
      await waitFor(async () => runs.length >= 2, ARRIVES_MS, 'both start rescans');
      await watcher.settled();
      const from = runs.length;
      fs.renameSync(path.join(a, 'docs', 'report.txt'), path.join(b, 'report.txt'));
      await waitFor(
        async () => (await readEntryAt(library, second.locationUuid, 'report.txt')) !== undefined,
        ARRIVES_MS,
        'report.txt in B',
      );
      // Until the move window has passed, and A's directory was looked at again.
      await waitFor(
        async () => (await readEntryAt(library, first.locationUuid, 'docs/report.txt')) === undefined,
        ARRIVES_MS,
        'report.txt gone from A',
      );
      await watcher.settled();
      expect((await readEntryAt(library, second.locationUuid, 'report.txt'))!.uuid).toBe(report.uuid);
      const since = runs.slice(from);
      expect(since.reduce((sum, run) => sum + run.summary.moved, 0)).toBe(1);
      expect(since.reduce((sum, run) => sum + run.summary.deleted, 0)).toBe(0);
      expect(await entryTombstones(library)).toEqual([]);
      await expectStoreIsDisk(library, first.locationUuid, a);
      await expectStoreIsDisk(library, second.locationUuid, b);
    } finally {
      await watcher.close();
    }
  } finally {
    await library.close();
  }
});

test('node --watch: a file taken out of one watched location, then put into another in a later burst, keeps its entry', async () => {
  const library = await Library.create(Library.fileIn(tempDir()));
  const { a, b } = twoLocations();
  const outside = tempDir();
  const runs: { location: string; summary: IndexSummary }[] = [];
  try {
    const first = await indexLocation(library, a);
    const second = await indexLocation(library, b);
    const report = (await readEntryAt(library, first.locationUuid, 'docs/report.txt'))!;
    const watcher = await LocationWatcher.start(library, createLogger({ level: 'silent' }), {
      // Long enough that the second half comes well within it, even on a slow machine.
      moveWindowMs: 30_000,
      onIndexed: (summary, _reason, location) => runs.push({ location, summary }),
    });
    try {
      await waitFor(async () => runs.length >= 2, ARRIVES_MS, 'both start rescans');
      await watcher.settled();
      // First half: A's run finds it gone and keeps it for the move window.
      const from = runs.length;
      fs.renameSync(path.join(a, 'docs', 'report.txt'), path.join(outside, 'report.txt'));
      await waitFor(async () => runs.length > from, ARRIVES_MS, "A's run");
      await watcher.settled();
      expect((await readEntryAt(library, first.locationUuid, 'docs/report.txt'))?.uuid).toBe(report.uuid);
      // Second half, in B: B's run claims the entry A keeps.
      fs.renameSync(path.join(outside, 'report.txt'), path.join(b, 'report.txt'));
      await waitFor(
        async () => (await readEntryAt(library, second.locationUuid, 'report.txt')) !== undefined,
        ARRIVES_MS,
        'report.txt in B',
      );
      await watcher.settled();
      expect((await readEntryAt(library, second.locationUuid, 'report.txt'))!.uuid).toBe(report.uuid);
      expect(await readEntryAt(library, first.locationUuid, 'docs/report.txt')).toBeUndefined();
      expect(runs.slice(from).reduce((sum, run) => sum + run.summary.deleted, 0)).toBe(0);
      expect(await entryTombstones(library)).toEqual([]);
      await expectStoreIsDisk(library, first.locationUuid, a);
      await expectStoreIsDisk(library, second.locationUuid, b);
    } finally {
      await watcher.close();
    }
  } finally {
    await library.close();
  }
});

test('tidemark index A B deletes a second entry of a path (two writers stored it at once), as tidemark index A does', async () => {
  const { a, b } = twoLocations();
  const library = await Library.create(Library.fileIn(tempDir()));
  try {
    const [summaryA] = await indexLocations(library, [a, b], { hashThreads: 0 });
    const original = (await readEntryAt(library, summaryA.locationUuid, 'docs/stays.txt'))!;
    const twin = crypto.randomUUID();
    const stat = fs.lstatSync(path.join(a, 'docs/stays.txt'));
    await library.write(async (tx) => {
      await tx.put('entry', { ...original, uuid: twin });
      await recordEntryFileIds(tx, summaryA.locationUuid, [
        { entryUuid: twin, device: stat.dev, inode: stat.ino, birthMs: Math.floor(stat.birthtimeMs) },
      ]);
    });
    const [again] = await indexLocations(library, [a, b], { hashThreads: 0 });
    expect(again).toMatchObject({ deleted: 1 });
    await expectStoreIsDisk(library, summaryA.locationUuid, a);
  } finally {
    await library.close();
  }
});

test('locations nested in one another are not paired: the same file is an entry of both', () => {
  const locations = [
    { uuid: 'own', path: '/data/photos' },
    { uuid: 'holder', path: '/data' },
    { uuid: 'inside', path: '/data/photos/2024' },
    { uuid: 'sibling', path: '/data/photos-old' },
    { uuid: 'apart', path: '/srv/music' },
  ];
  expect(otherLocationsOf(locations, 'own', '/data/photos').map((l) => l.uuid)).toEqual(['sibling', 'apart']);
  expect(
    otherLocationsOf([...locations, { uuid: 'root', path: '/' }], 'apart', '/srv/music').map((l) => l.uuid),
  ).toEqual(['own', 'holder', 'inside', 'sibling']);
});

test('tidemark index A A: a file deleted from A is deleted once, counted in one summary', async () => {
  const library = await Library.create(Library.fileIn(tempDir()));
  try {
    const a = tempDir();
    writeUnder(a, 'stays.txt', 'stays\n');
    writeUnder(a, 'goes.txt', 'goes\n');
    const { locationUuid } = await indexLocation(library, a, { hashThreads: 0 });
    fs.rmSync(path.join(a, 'goes.txt'));
    const summaries = await indexLocations(library, [a, a], { hashThreads: 0 });
    expect(summaries.map((summary) => summary.deleted)).toEqual([1, 0]);
    expect([...(await entriesOf(library, locationUuid)).keys()]).toEqual(['stays.txt']);
    expect(await entryTombstones(library)).toHaveLength(1);
  } finally {
    await library.close();
  }
});
