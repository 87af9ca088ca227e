/**
 * The walk reads the names of the next few directories of each level ahead (the main thread
 * examines one directory while the next ones are read on libuv's pool), and no more: a few
 * listings per level are held, whatever the size of the tree. fs.promises.readdir is wrapped,
 * not replaced, to count the reads in flight.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mayChangeUnseen, walkTree, WalkOptions } from './walk';

const roots: string[] = [];
afterAll(() => roots.forEach((root) => fs.rmSync(root, { recursive: true, force: true })));

/** `width` directories on each of `depth` levels under the root, two files in each directory. */
function makeTree(width: number, depth: number): { root: string; paths: string[] } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-walk-ahead-'));
  roots.push(root);
  const paths: string[] = [];
  const fill = (relative: string, level: number) => {
    for (const file of ['f1', 'f2']) {
      const child = relative ? `${relative}/${file}` : file;
      fs.writeFileSync(path.join(root, child), child);
      paths.push(child);
    }
    if (level === depth) return;
    for (let i = 0; i < width; i++) {
      const child = relative
        ? `${relative}/d${String(i).padStart(3, '0')}`
        : `d${String(i).padStart(3, '0')}`;
      fs.mkdirSync(path.join(root, child));
      paths.push(child);
      fill(child, level + 1);
    }
  };
  fill('', 0);
  return { root, paths: paths.sort() };
}

/** Walks `root`, counting directory reads: all of them, and the most in flight at once. */
async function walkCountingReads(
  root: string,
  options: WalkOptions = { readAhead: true },
): Promise<{ walked: string[]; mostInFlight: number; reads: number }> {
  const readdir = fs.promises.readdir;
  let inFlight = 0;
  let mostInFlight = 0;
  let reads = 0;
  const spy = jest.spyOn(fs.promises, 'readdir').mockImplementation(((
    ...args: Parameters<typeof readdir>
  ) => {
    inFlight++;
    reads++;
    mostInFlight = Math.max(mostInFlight, inFlight);
    return readdir(...args).finally(() => inFlight--);
  }) as typeof readdir);
  try {
    const walked: string[] = [];
    for await (const item of walkTree(root, options)) walked.push(item.relativePath);
    return { walked, mostInFlight, reads };
  } finally {
    spy.mockRestore();
  }
}

test('listings are read ahead while the walk examines the directory before them', async () => {
  const { root, paths } = makeTree(40, 1);
  const { walked, mostInFlight } = await walkCountingReads(root);
  expect([...walked].sort()).toEqual(paths);
  expect(mostInFlight).toBeGreaterThan(1);
});

test('a few listings per level are read ahead, not every directory of a level', async () => {
  // 2 levels of 30: 930 directories. One being read and 4 ahead on each level at most, where
  // reading every directory of a level ahead would start 29 at once.
  const { root, paths } = makeTree(30, 2);
  const { walked, mostInFlight } = await walkCountingReads(root);
  expect([...walked].sort()).toEqual(paths);
  expect(mostInFlight).toBeLessThanOrEqual(2 * 5 + 1);
});

test('names read ahead of a directory unchanged since are used: each directory is listed once', async () => {
  const { root, paths } = makeTree(30, 2);
  // Every directory's ctime a tick (here 0 ms) before the walk.
  const { walked, reads } = await walkCountingReads(root, { readAhead: true, timestampTickMs: 0 });
  expect([...walked].sort()).toEqual(paths);
  expect(reads).toBe(1 + 30 + 30 * 30);
});

test('a directory whose ctime is within a tick of the read is listed again: a change could hide in that tick', async () => {
  const { root } = makeTree(30, 1);
  const { reads } = await walkCountingReads(root, { readAhead: true, timestampTickMs: 60 * 60 * 1000 });
  // The first directory of the level is not read ahead; every other one is read twice.
  expect(reads).toBe(1 + 1 + 29 * 2);
});

test('without readAhead (a network or coarse-timestamp file system) a listing is read when the walk gets to it', async () => {
  const { root, paths } = makeTree(30, 2);
  const { walked, mostInFlight, reads } = await walkCountingReads(root, {});
  expect([...walked].sort()).toEqual(paths);
  expect(mostInFlight).toBe(1);
  expect(reads).toBe(1 + 30 + 30 * 30);
});

test('an error reading names ahead is not trusted: the names are read again when the walk gets there', async () => {
  const { root, paths } = makeTree(5, 1);
  const readdir = fs.promises.readdir;
  const failed = new Set<string>();
  const spy = jest.spyOn(fs.promises, 'readdir').mockImplementation(((
    ...args: Parameters<typeof readdir>
  ) => {
    const dir = String(args[0]);
    // The first read of every directory but the root fails, as a network mount's timeout would.
    if (dir !== root && !failed.has(dir)) {
      failed.add(dir);
      return Promise.reject(Object.assign(new Error(`EIO: i/o error, scandir '${dir}'`), { code: 'EIO' }));
    }
    return readdir(...args);
  }) as typeof readdir);
  try {
    const items: string[] = [];
    for await (const item of walkTree(root, { readAhead: true, timestampTickMs: 0 })) {
      items.push(item.type === 'entry' ? item.relativePath : `${item.type} ${item.relativePath}`);
    }
    // d000 is read at its turn (not ahead), so its failure stands; the others were read ahead.
    expect(items.filter((item) => item.startsWith('unreadable'))).toEqual(['unreadable d000']);
    expect(items.filter((item) => !item.startsWith('unreadable')).sort()).toEqual(
      paths.filter((p) => !p.startsWith('d000/')),
    );
  } finally {
    spy.mockRestore();
  }
});

test('a ctime within a tick of the read may hide a change; a whole-second ctime is taken as a coarse one', () => {
  expect(mayChangeUnseen(10_000.5, 10_010, 20)).toBe(true);
  expect(mayChangeUnseen(10_000.5, 10_030, 20)).toBe(false);
  // Seconds only (ext4 with 128-byte inodes): a change within the same second keeps the ctime.
  expect(mayChangeUnseen(10_000, 10_150, 20)).toBe(true);
  expect(mayChangeUnseen(10_000, 12_000, 20)).toBe(true);
  expect(mayChangeUnseen(10_000, 12_011, 20)).toBe(false);
});
