import { Entry } from '@tidemark/proto';
import { Library, readEntriesOfLocation } from '@tidemark/engine';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { indexLocation } from '../src/indexer/index-location';
import { walkTree } from '../src/indexer/walk';
import { collect } from './index-helpers';
import { removeTempDirs, tempDir } from './harness';

afterAll(removeTempDirs);

async function withNewLibrary<T>(fn: (library: Library) => Promise<T>): Promise<T> {
  const library = await Library.create(Library.fileIn(tempDir()));
  try {
    return await fn(library);
  } finally {
    await library.close();
  }
}

/**
 * Names whose byte order differs from a naive walk's: "a-b" and "a.txt" sort between "a" and
 * "a/..." ('-' and '.' are below '/'), a code point above U+FFFF sorts after U+E000..U+FFFF in
 * UTF-8 but before them in UTF-16, and upper case before lower case.
 */
const TRICKY = ['a', 'a-b', 'a.txt', 'a0', 'A', 'é', '\uE000x', '\uFFFDy', '😀', 'z'];

function makeTree(root: string): void {
  for (const name of TRICKY) {
    fs.mkdirSync(path.join(root, name));
    for (const child of TRICKY) fs.writeFileSync(path.join(root, name, child), `${name}/${child}\n`);
    fs.writeFileSync(path.join(root, `${name}-file`), `${name}\n`);
  }
  fs.mkdirSync(path.join(root, 'a', 'b-c', 'deep'), { recursive: true });
  fs.writeFileSync(path.join(root, 'a', 'b-c', 'deep', 'leaf'), 'leaf\n');
  fs.mkdirSync(path.join(root, 'a', 'b'));
  fs.writeFileSync(path.join(root, 'a', 'b', 'x'), 'x\n');
}

test('the walk comes out in the byte order of the store, so a streamed re-index of a tree with tricky names changes nothing', async () => {
  const root = tempDir();
  makeTree(root);
  const walked = (await collect(walkTree(root))).map((item) => item.relativePath);
  const sorted = [...walked].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  expect(walked).toEqual(sorted);

  await withNewLibrary(async (library) => {
    const first = await indexLocation(library, root, { batchSize: 7 });
    expect(first).toMatchObject({ added: walked.length, deleted: 0, unreadable: 0 });
    const stored = await collect(readEntriesOfLocation(library, first.locationUuid, { pageSize: 3 }));
    expect(stored.map((entry) => entry.relativePath)).toEqual(walked);
    const byPath = new Map(stored.map((entry) => [entry.relativePath, entry]));
    for (const entry of stored) {
      const parent = path.posix.dirname(entry.relativePath);
      expect([entry.relativePath, entry.parentUuid]).toEqual([
        entry.relativePath,
        parent === '.' ? '' : byPath.get(parent)!.uuid,
      ]);
    }

    const second = await indexLocation(library, root, { batchSize: 7 });
    expect(second).toMatchObject({
      added: 0,
      updated: 0,
      deleted: 0,
      unchanged: walked.length,
      transactions: 0,
      hashed: 0,
    });

    // Removals on both sides of a subtree, and a whole subtree, in one run.
    fs.rmSync(path.join(root, 'a-b'), { recursive: true });
    fs.rmSync(path.join(root, 'a', 'b-c'), { recursive: true });
    fs.rmSync(path.join(root, '\uFFFDy'), { recursive: true });
    fs.rmSync(path.join(root, '😀', 'z'));
    fs.rmSync(path.join(root, 'z-file'));
    fs.writeFileSync(path.join(root, 'a', 'new'), 'new\n');
    const gone = stored.filter((entry: Entry) =>
      ['a-b', 'a/b-c', '\uFFFDy', '😀/z', 'z-file'].some(
        (p) => entry.relativePath === p || entry.relativePath.startsWith(`${p}/`),
      ),
    );
    const third = await indexLocation(library, root, { batchSize: 7 });
    expect(third).toMatchObject({ added: 1, deleted: gone.length, unreadable: 0 });
    expect(third.unchanged).toBe(walked.length - gone.length - third.updated);
    const after = await collect(readEntriesOfLocation(library, first.locationUuid));
    expect(after.map((entry) => entry.relativePath)).toEqual(
      (await collect(walkTree(root))).map((item) => item.relativePath),
    );
  });
});

test('changes in a mostly unchanged tree are written while the walk goes on, not all at its end', async () => {
  const root = tempDir();
  // 200 files in byte order f000..f199; two changed, 100 files apart.
  const name = (i: number) => `f${String(i).padStart(3, '0')}`;
  for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(root, name(i)), `${i}\n`);
  await withNewLibrary(async (library) => {
    await indexLocation(library, root, { hashThreads: 0 });
    fs.writeFileSync(path.join(root, name(10)), 'changed 10\n');
    fs.writeFileSync(path.join(root, name(110)), 'changed 110\n');
    // Batches of 5 go once the walk has passed 50 objects since their first change: each change
    // is written in a transaction of its own, 50 objects after it was found.
    const summary = await indexLocation(library, root, { hashThreads: 0, batchSize: 5 });
    expect(summary).toMatchObject({ updated: 2, unchanged: 198, hashed: 2, transactions: 2 });
  });
});
