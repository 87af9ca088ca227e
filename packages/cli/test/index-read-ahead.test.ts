/**
 * The walk reads the names of the next directories ahead (walk.ts), and a first index can take
 * minutes to walk the subtree before one of them: names read ahead must not stand for the
 * directory when it changed meanwhile. A scoped rescan (node --watch) reads nothing ahead among
 * the scope's children, most of which it skips. fs.promises.readdir is wrapped, not replaced:
 * to change the tree while the walk is inside A, or to see what was listed.
 */
import { Library } from '@tidemark/engine';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { indexLocation } from '../src/indexer/index-location';
import { entriesOf, writeUnder } from './index-helpers';
import { removeTempDirs, tempDir } from './harness';

afterAll(removeTempDirs);
afterEach(() => jest.restoreAllMocks());

async function withLibrary(fn: (library: Library, root: string) => Promise<void>): Promise<void> {
  const library = await Library.create(Library.fileIn(tempDir()));
  try {
    await fn(library, fs.realpathSync(tempDir()));
  } finally {
    await library.close();
  }
}

/** Until the wall clock is `ms` past now: a change made then gets a later ctime than any before. */
async function clockPast(ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() <= until) await new Promise((resolve) => setTimeout(resolve, until + 1 - Date.now()));
}

/** Runs `change` when the walk lists A/deep: after B's names were read ahead, before B is walked. */
function whenInsideA(root: string, change: () => Promise<void>): void {
  const readdir = fs.promises.readdir;
  jest.spyOn(fs.promises, 'readdir').mockImplementation((async (...args: Parameters<typeof readdir>) => {
    if (String(args[0]) === path.join(root, 'A', 'deep')) await change();
    return readdir(...args);
  }) as typeof readdir);
}

test('a file moved into B while the walk is inside A keeps its entry: a move, not a delete', async () => {
  await withLibrary(async (library, root) => {
    writeUnder(root, 'A/deep/a', 'a');
    writeUnder(root, 'A/deep2/z/x', 'the file that moves');
    writeUnder(root, 'B/b', 'b');
    const first = await indexLocation(library, root, { hashThreads: 0, timestampTickMs: 20 });
    const uuid = (await entriesOf(library, first.locationUuid)).get('A/deep2/z/x')?.uuid;
    expect(uuid).toBeDefined();
    // B's ctime a tick before its names are read ahead: only the change itself can tell.
    await clockPast(50);

    whenInsideA(root, async () => {
      await clockPast(50);
      fs.renameSync(path.join(root, 'A', 'deep2', 'z', 'x'), path.join(root, 'B', 'x'));
    });
    const second = await indexLocation(library, root, { hashThreads: 0, timestampTickMs: 20 });
    const after = await entriesOf(library, first.locationUuid);
    expect(after.get('B/x')?.uuid).toBe(uuid);
    expect(after.has('A/deep2/z/x')).toBe(false);
    expect(second).toMatchObject({ moved: 1, deleted: 0 });
  });
});

test('files removed from B and added to it while the walk is inside A are deleted and added, with no problem', async () => {
  await withLibrary(async (library, root) => {
    writeUnder(root, 'A/deep/a', 'a');
    writeUnder(root, 'B/gone.txt', 'g');
    writeUnder(root, 'B/sub/inner.txt', 'i');
    const first = await indexLocation(library, root, { hashThreads: 0, timestampTickMs: 20 });
    expect(first.added).toBe(7);
    await clockPast(50);

    whenInsideA(root, async () => {
      await clockPast(50);
      fs.rmSync(path.join(root, 'B', 'gone.txt'));
      fs.rmSync(path.join(root, 'B', 'sub'), { recursive: true });
      writeUnder(root, 'B/new.txt', 'n');
    });
    const problems: string[] = [];
    const second = await indexLocation(library, root, {
      hashThreads: 0,
      timestampTickMs: 20,
      onProblem: (problem) => problems.push(`${problem.relativePath}: ${problem.reason}`),
    });
    expect(problems).toEqual([]);
    expect(second).toMatchObject({ deleted: 3, added: 1, unreadable: 0 });
    const stored = await entriesOf(library, first.locationUuid);
    expect([...stored.keys()].sort()).toEqual(['A', 'A/deep', 'A/deep/a', 'B', 'B/new.txt']);
  });
});

test('a scoped rescan lists the scope and its new directories, none of the stored ones it skips', async () => {
  await withLibrary(async (library, root) => {
    for (const dir of ['s1', 's2', 's3', 's4', 's5']) {
      for (let i = 0; i < 3; i++) writeUnder(root, `scope/${dir}/f${i}`, `${dir}${i}`);
    }
    await indexLocation(library, root, { hashThreads: 0 });
    writeUnder(root, 'scope/new-a/f', 'new'); // new directories are walked whole
    writeUnder(root, 'scope/s2b/f', 'new');
    const readdir = fs.promises.readdir;
    const listed: string[] = [];
    jest.spyOn(fs.promises, 'readdir').mockImplementation(((...args: Parameters<typeof readdir>) => {
      listed.push(path.relative(root, String(args[0])));
      return readdir(...args);
    }) as typeof readdir);
    const summary = await indexLocation(library, root, { hashThreads: 0, scopes: ['scope'] });
    expect(summary.added).toBe(4);
    expect(listed.filter((p) => !p.startsWith('..')).sort()).toEqual(['scope', 'scope/new-a', 'scope/s2b']);
  });
});
