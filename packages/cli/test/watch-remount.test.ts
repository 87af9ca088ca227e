/**
 * A watched location whose disk goes away and comes back is watched again without a restart:
 * the kernel drops a watch with its mount, and a watch made on the empty mount point sees
 * nothing of the disk mounted over it later. The real watcher (@parcel/watcher), real files,
 * a real FAT image really mounted with fusefat.
 */
import { Library, readTombstones } from '@tidemark/engine';
import { createLogger } from '@tidemark/node';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { indexLocation } from '../src/indexer/index-location';
import { LocationWatcher, WatchRunReason } from '../src/indexer/location-watcher';
import { canMountFat, FatImage } from './fat-image';
import { removeTempDirs, tempDir, waitFor } from './harness';
import { collect, entriesOf } from './index-helpers';

afterAll(removeTempDirs);

/** Generous: the machine running the tests may be slow; the claim is "it arrives", not how fast. */
const ARRIVES_MS = 60_000;
const MOUNT_CHECK_MS = 100;

/** How many log lines of `logFile` carry this message. */
function logged(logFile: string, message: string): number {
  if (!fs.existsSync(logFile)) return 0;
  return fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line.includes(`"msg":"${message}`)).length;
}

(canMountFat ? test : test.skip)(
  'a location on a disk unmounted and mounted again is watched again: its entries are kept while it is gone, and a file written after the remount arrives by its event',
  async () => {
    const fat = new FatImage();
    const logFile = path.join(tempDir(), 'watch.log');
    const library = await Library.create(Library.fileIn(tempDir()));
    fat.mount();
    try {
      fat.write('a.txt', 'a\n');
      const { locationUuid } = await indexLocation(library, fat.mountPoint, { hashThreads: 0 });
      const reasons: WatchRunReason[] = [];
      const watcher = await LocationWatcher.start(library, createLogger({ level: 'info', file: logFile }), {
        mountCheckMs: MOUNT_CHECK_MS,
        moveWindowMs: 100,
        onIndexed: (_summary, reason) => reasons.push(reason),
      });
      const stored = async () => [...(await entriesOf(library, locationUuid)).keys()].sort();
      const mountChanges = () => logged(logFile, "location's mount changed");
      try {
        await waitFor(async () => reasons.includes('start'), ARRIVES_MS, 'the start rescan');
        fat.write('b.txt', 'b\n');
        await waitFor(async () => (await stored()).includes('b.txt'), ARRIVES_MS, 'b.txt by its event');

        // Plugged out: the mount point is an empty directory of the disk below. The watcher
        // notices, watches that directory and refuses to empty the location.
        fat.unmount();
        await waitFor(async () => mountChanges() >= 1, ARRIVES_MS, 'the unmount to be noticed');
        await waitFor(
          async () => logged(logFile, 'location is not on the volume') >= 1,
          ARRIVES_MS,
          'the rescan on the empty mount point to be refused',
        );
        expect(await stored()).toEqual(['a.txt', 'b.txt']);

        // Plugged in: watched again and rescanned whole; then a new file arrives by its event.
        fat.mount();
        await waitFor(async () => mountChanges() >= 2, ARRIVES_MS, 'the mount to be noticed');
        await waitFor(async () => reasons.includes('remount'), ARRIVES_MS, 'the rescan after the remount');
        await watcher.settled();
        const runsBefore = reasons.length;
        fat.write('c.txt', 'c\n');
        await waitFor(async () => (await stored()).includes('c.txt'), ARRIVES_MS, 'c.txt after the remount');
        // Its event brought it (an event-scoped run), not a periodic or remount rescan.
        expect(reasons.slice(runsBefore)).toContain('events');
        expect(reasons.slice(runsBefore)).not.toContain('remount');
        expect(await stored()).toEqual(['a.txt', 'b.txt', 'c.txt']);
        expect(await collect(readTombstones(library, 'entry'))).toEqual([]);
      } finally {
        await watcher.close();
      }
    } finally {
      await library.close();
      fat.unmount();
    }
  },
);

(canMountFat ? test : test.skip)(
  'a disk back under the mount id it had, after its mount point was gone, is watched again: the look while it was gone found nothing to watch and is tried again',
  async () => {
    // The kernel hands a freed mount id to the next mount, and udisks removes a mount point
    // under /media with its disk: the disk comes back under the id the watch was made on.
    const fat = new FatImage();
    const logFile = path.join(tempDir(), 'watch.log');
    const library = await Library.create(Library.fileIn(tempDir()));
    fat.mount();
    try {
      fat.write('a.txt', 'a\n');
      const { locationUuid } = await indexLocation(library, fat.mountPoint, { hashThreads: 0 });
      const reasons: WatchRunReason[] = [];
      const watcher = await LocationWatcher.start(library, createLogger({ level: 'info', file: logFile }), {
        mountCheckMs: MOUNT_CHECK_MS,
        onIndexed: (_summary, reason) => reasons.push(reason),
      });
      const stored = async () => [...(await entriesOf(library, locationUuid)).keys()].sort();
      try {
        await waitFor(async () => reasons.includes('start'), ARRIVES_MS, 'the start rescan');
        fat.unmount();
        fs.rmdirSync(fat.mountPoint);
        await waitFor(
          async () => logged(logFile, 'cannot watch location') >= 1,
          ARRIVES_MS,
          'the gone mount point to be found unwatchable',
        );
        // Tried again at every look, told once.
        await new Promise((resolve) => setTimeout(resolve, 10 * MOUNT_CHECK_MS));
        expect(logged(logFile, 'cannot watch location')).toBe(1);
        fs.mkdirSync(fat.mountPoint);
        fat.mount();
        await waitFor(async () => reasons.includes('remount'), ARRIVES_MS, 'the rescan after the remount');
        await watcher.settled();
        const runsBefore = reasons.length;
        fat.write('c.txt', 'c\n');
        await waitFor(async () => (await stored()).includes('c.txt'), ARRIVES_MS, 'c.txt after the remount');
        expect(reasons.slice(runsBefore)).toContain('events');
        expect(await stored()).toEqual(['a.txt', 'c.txt']);
      } finally {
        await watcher.close();
      }
    } finally {
      await library.close();
      fat.unmount();
    }
  },
);

test('a location directory removed and made again is watched again: a file written in the new directory arrives by its event', async () => {
  const logFile = path.join(tempDir(), 'watch.log');
  const location = path.join(tempDir(), 'photos');
  fs.mkdirSync(location);
  fs.writeFileSync(path.join(location, 'a.jpg'), 'a\n');
  const library = await Library.create(Library.fileIn(tempDir()));
  try {
    const { locationUuid } = await indexLocation(library, location, { hashThreads: 0 });
    const reasons: WatchRunReason[] = [];
    const watcher = await LocationWatcher.start(library, createLogger({ level: 'info', file: logFile }), {
      mountCheckMs: MOUNT_CHECK_MS,
      moveWindowMs: 100,
      onIndexed: (_summary, reason) => reasons.push(reason),
    });
    const stored = async () => [...(await entriesOf(library, locationUuid)).keys()].sort();
    try {
      await waitFor(async () => reasons.includes('start'), ARRIVES_MS, 'the start rescan');
      // A restore from a backup: the directory is removed and made again with other files.
      fs.rmSync(location, { recursive: true });
      fs.mkdirSync(location);
      fs.writeFileSync(path.join(location, 'b.jpg'), 'b\n');
      await waitFor(async () => reasons.includes('replaced'), ARRIVES_MS, 'the rescan of the new directory');
      await waitFor(async () => (await stored()).includes('b.jpg'), ARRIVES_MS, 'b.jpg by the rescan');
      // a.jpg, gone with the old directory, is deleted once no move can claim it.
      await waitFor(async () => !(await stored()).includes('a.jpg'), ARRIVES_MS, 'a.jpg to be deleted');
      await watcher.settled();
      const runsBefore = reasons.length;
      fs.writeFileSync(path.join(location, 'c.jpg'), 'c\n');
      await waitFor(async () => (await stored()).includes('c.jpg'), ARRIVES_MS, 'c.jpg by its event');
      expect(reasons.slice(runsBefore)).toContain('events');
      expect(reasons.slice(runsBefore)).not.toContain('moves');
      expect(await stored()).toEqual(['b.jpg', 'c.jpg']);
    } finally {
      await watcher.close();
    }
  } finally {
    await library.close();
  }
});

test('a location whose path is gone when watching starts is watched once its path is there again', async () => {
  const [parent, logs] = [tempDir(), tempDir()];
  const logFile = path.join(logs, 'watch.log');
  const location = path.join(parent, 'photos');
  fs.mkdirSync(location);
  fs.writeFileSync(path.join(location, 'a.jpg'), 'a\n');
  const library = await Library.create(Library.fileIn(tempDir()));
  try {
    const { locationUuid } = await indexLocation(library, location, { hashThreads: 0 });
    const aside = path.join(parent, 'away');
    fs.renameSync(location, aside);
    const watcher = await LocationWatcher.start(library, createLogger({ level: 'info', file: logFile }), {
      mountCheckMs: MOUNT_CHECK_MS,
    });
    const stored = async () => [...(await entriesOf(library, locationUuid)).keys()].sort();
    try {
      expect(watcher.paths).toEqual([]);
      expect(logged(logFile, 'cannot watch location')).toBe(1);
      // Told once, however often it is tried again.
      await new Promise((resolve) => setTimeout(resolve, 10 * MOUNT_CHECK_MS));
      expect(logged(logFile, 'cannot watch location')).toBe(1);

      fs.renameSync(aside, location);
      await waitFor(async () => watcher.paths.includes(location), ARRIVES_MS, 'the location to be watched');
      fs.writeFileSync(path.join(location, 'b.jpg'), 'b\n');
      await waitFor(async () => (await stored()).includes('b.jpg'), ARRIVES_MS, 'b.jpg by its event');
      expect(await stored()).toEqual(['a.jpg', 'b.jpg']);
    } finally {
      await watcher.close();
    }
  } finally {
    await library.close();
  }
});
