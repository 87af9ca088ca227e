import { Library, readEntriesOfLocation, readEntryAt, readLocationsOfDevice } from '@tidemark/engine';
import { createLogger } from '@tidemark/node';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { indexLocation, IndexSummary } from '../src/indexer/index-location';
import { LocationWatcher } from '../src/indexer/location-watcher';
import { removeTempDirs, tempDir, waitFor } from './harness';
import { collect, independentWalk } from './index-helpers';

afterAll(removeTempDirs);

/**
 * What @parcel/watcher's inotify backend does not report, and the watcher makes up for: it
 * watches only the directory a create or rename names (not the directories moved in with it),
 * reports a renamed directory's subdirectories under their old paths, and drops the location's
 * own watch when the location directory is moved, even if it comes back. Also: a directory put
 * at a stored directory's path is walked whole, and a location path that now leads elsewhere is
 * left alone.
 *
 * Event-driven runs come 100 ms after a burst; this is far longer. The periodic whole rescan (the
 * safety net, default 60 min) is left at its default, so only events can bring a change here.
 */
const EVENTS_MS = 15_000;

async function storedPaths(library: Library, locationUuid: string): Promise<string[]> {
  return (await collect(readEntriesOfLocation(library, locationUuid))).map((e) => e.relativePath).sort();
}

const onDisk = (tree: string) => [...independentWalk(tree).keys()].sort();

/** A library with `tree` indexed and a real watcher (default options) on it, its start run done. */
async function watching(
  tree: string,
  body: (
    library: Library,
    locationUuid: string,
    runs: { reason: string; summary: IndexSummary }[],
    watcher: LocationWatcher,
  ) => Promise<void>,
  logFile?: string,
): Promise<void> {
  const library = await Library.create(Library.fileIn(tempDir()));
  try {
    const { locationUuid } = await indexLocation(library, tree, { hashThreads: 0 });
    const runs: { reason: string; summary: IndexSummary }[] = [];
    const watcher = await LocationWatcher.start(
      library,
      createLogger(logFile ? { level: 'info', file: logFile } : { level: 'silent' }),
      {
        onIndexed: (summary, reason) => runs.push({ reason, summary }),
      },
    );
    try {
      await waitFor(async () => runs.length > 0, EVENTS_MS, 'the start rescan');
      await watcher.settled();
      await body(library, locationUuid, runs, watcher);
    } finally {
      await watcher.close();
    }
  } finally {
    await library.close();
  }
}

/** Waits for the library to hold exactly what is on disk; fails with both lists otherwise. */
async function expectInSync(library: Library, locationUuid: string, tree: string, what: string) {
  try {
    await waitFor(
      async () => JSON.stringify(await storedPaths(library, locationUuid)) === JSON.stringify(onDisk(tree)),
      EVENTS_MS,
      what,
    );
  } catch {
    // Show the difference.
    expect(await storedPaths(library, locationUuid)).toEqual(onDisk(tree));
  }
}

test('a directory moved over an empty stored directory of the same name: its contents are indexed and keep their entries', async () => {
  const tree = tempDir();
  fs.mkdirSync(path.join(tree, 'target'));
  fs.mkdirSync(path.join(tree, 'source'));
  fs.writeFileSync(path.join(tree, 'source', 'photo.jpg'), 'photo\n');
  await watching(tree, async (library, locationUuid) => {
    const before = (await readEntryAt(library, locationUuid, 'source/photo.jpg'))!;
    // rename(2) replaces an empty directory: `mv -T source target`, a restore, a sync tool.
    fs.renameSync(path.join(tree, 'source'), path.join(tree, 'target'));
    await expectInSync(library, locationUuid, tree, 'the moved-in contents in the library');
    expect((await readEntryAt(library, locationUuid, 'target/photo.jpg'))?.uuid).toBe(before.uuid);
  });
});

test('a file written in a subdirectory of a directory renamed within the location is indexed', async () => {
  const tree = tempDir();
  fs.mkdirSync(path.join(tree, 'album', 'day1'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'album', 'day1', 'one.jpg'), 'one\n');
  await watching(tree, async (library, locationUuid) => {
    fs.renameSync(path.join(tree, 'album'), path.join(tree, 'trip'));
    await expectInSync(library, locationUuid, tree, 'the renamed directory in the library');
    // The kernel still watches day1, but @parcel/watcher reports its events under album/day1.
    fs.writeFileSync(path.join(tree, 'trip', 'day1', 'two.jpg'), 'two\n');
    await expectInSync(library, locationUuid, tree, 'trip/day1/two.jpg in the library');
  });
});

test('a file written in a subdirectory of a directory moved into the location is indexed', async () => {
  const [tree, outside] = [tempDir(), tempDir()];
  fs.writeFileSync(path.join(tree, 'a.txt'), 'a\n');
  fs.mkdirSync(path.join(outside, 'import', 'raw'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'import', 'raw', 'one.cr2'), 'one\n');
  await watching(tree, async (library, locationUuid) => {
    fs.renameSync(path.join(outside, 'import'), path.join(tree, 'import'));
    await expectInSync(library, locationUuid, tree, 'the moved-in directory in the library');
    // @parcel/watcher watched import itself when it arrived, never import/raw.
    fs.writeFileSync(path.join(tree, 'import', 'raw', 'two.cr2'), 'two\n');
    await expectInSync(library, locationUuid, tree, 'import/raw/two.cr2 in the library');
  });
});

test('a location directory renamed away and back is still watched', async () => {
  const base = tempDir();
  const tree = path.join(base, 'photos');
  fs.mkdirSync(tree);
  fs.writeFileSync(path.join(tree, 'a.txt'), 'a\n');
  await watching(tree, async (library, locationUuid, runs, watcher) => {
    // A backup tool or a user: the same directory (inode, mount) back under its path.
    fs.renameSync(tree, `${tree}.old`);
    fs.renameSync(`${tree}.old`, tree);
    await waitFor(async () => runs.length > 1, EVENTS_MS, 'the run of the root event');
    await watcher.settled();
    // The mount check (every 5 s) finds the same directory on the same mount, and renews nothing.
    fs.writeFileSync(path.join(tree, 'b.txt'), 'b\n');
    await expectInSync(library, locationUuid, tree, 'b.txt in the library');
  });
});

test('a location directory replaced by a symbolic link is left alone, its entries kept: no second location is made for the target', async () => {
  const [base, elsewhere, logs] = [tempDir(), tempDir(), tempDir()];
  const logFile = path.join(logs, 'watch.log');
  const tree = path.join(base, 'photos');
  fs.mkdirSync(tree);
  fs.writeFileSync(path.join(tree, 'old.jpg'), 'old\n');
  fs.writeFileSync(path.join(elsewhere, 'new.jpg'), 'new\n');
  await watching(
    tree,
    async (library, locationUuid, runs, watcher) => {
      fs.rmSync(tree, { recursive: true });
      fs.symlinkSync(elsewhere, tree);
      await waitFor(
        async () => fs.readFileSync(logFile, 'utf8').includes('location path now leads elsewhere'),
        EVENTS_MS,
        'the warning that the location path leads elsewhere',
      );
      await watcher.settled();
      expect(runs.every((run) => run.summary.locationUuid === locationUuid)).toBe(true);
      const locations = await readLocationsOfDevice(library, library.identity.deviceId);
      expect(locations.map((location) => location.path)).toEqual([tree]);
      expect(await storedPaths(library, locationUuid)).toEqual(['old.jpg']);
    },
    logFile,
  );
});
