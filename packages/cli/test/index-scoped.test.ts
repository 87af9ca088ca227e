/**
 * A rescan of some directories (what `node --watch` runs for a burst of events): each scope's own
 * children are compared, new directories walked whole, and nothing outside the scopes is read or
 * changed. Real files, the real indexer and a real library.
 */
import { Library, readEntriesOfLocation, recordEntryFileIds } from '@tidemark/engine';
import { randomUUID } from 'node:crypto';
import { Entry } from '@tidemark/proto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { indexLocation, IndexSummary } from '../src/indexer/index-location';
import { collect, writeUnder } from './index-helpers';
import { removeTempDirs, tempDir } from './harness';

afterAll(removeTempDirs);

let library: Library;
let root: string;

beforeEach(async () => {
  library = await Library.create(Library.fileIn(tempDir()));
  root = tempDir();
});

afterEach(async () => {
  await library.close();
});

const write = (relative: string, text: string) => writeUnder(root, relative, text);

const index = (scopes?: string[], batchSize = 3): Promise<IndexSummary> =>
  indexLocation(library, root, { scopes, batchSize, hashThreads: 0 });

async function entries(locationUuid: string): Promise<Map<string, Entry>> {
  const stored = await collect(readEntriesOfLocation(library, locationUuid));
  return new Map(stored.map((entry) => [entry.relativePath, entry]));
}

/** More than the cursor steps over one by one: skipping it re-reads from past its end. */
const BIG_SUBTREE = 300;

test('a scoped rescan compares the scope’s own children, walks new directories whole, and leaves the rest alone', async () => {
  write('a/x', 'x\n');
  write('a/y', 'y\n');
  write('a/gone-dir/inner/file', 'inner\n');
  for (let i = 0; i < BIG_SUBTREE; i++) write(`a/sub/f${String(i).padStart(3, '0')}`, `${i}\n`);
  write('a/zz', 'zz\n');
  write('b/z', 'z\n');
  const { locationUuid } = await index(undefined, 50);
  const before = await entries(locationUuid);

  fs.writeFileSync(path.join(root, 'a/x'), 'x, modified\n');
  fs.rmSync(path.join(root, 'a/y'));
  fs.rmSync(path.join(root, 'a/gone-dir'), { recursive: true });
  write('a/new-dir/deeper/leaf', 'leaf\n');
  fs.writeFileSync(path.join(root, 'a/zz'), 'zz, after the skipped subtree\n');
  // Outside the scope, and inside a subtree of the scope that is not itself rescanned.
  fs.writeFileSync(path.join(root, 'b/z'), 'z, modified\n');
  fs.writeFileSync(path.join(root, 'a/sub/f000'), 'changed, not in scope\n');

  const scoped = await index(['a']);
  // a itself; its children x, sub, zz, new-dir; new-dir's subtree: deeper, deeper/leaf.
  expect(scoped).toMatchObject({ scanned: 7, added: 3, updated: 3, deleted: 4, moved: 0 });
  let after = await entries(locationUuid);
  expect(after.has('a/y')).toBe(false);
  expect([...after.keys()].some((p) => p.startsWith('a/gone-dir'))).toBe(false);
  expect(after.get('a/new-dir/deeper/leaf')!.parentUuid).toBe(after.get('a/new-dir/deeper')!.uuid);
  expect(after.get('a/new-dir')!.parentUuid).toBe(before.get('a')!.uuid);
  expect(after.get('a/x')!.sizeBytes).toBe('x, modified\n'.length);
  expect(after.get('a/zz')!.sizeBytes).toBe('zz, after the skipped subtree\n'.length);
  // The skipped subtree is kept whole, and the out-of-scope changes are not seen yet.
  expect([...after.keys()].filter((p) => p.startsWith('a/sub/')).length).toBe(BIG_SUBTREE);
  expect(after.get('a/sub/f000')!.sizeBytes).toBe(before.get('a/sub/f000')!.sizeBytes);
  expect(after.get('b/z')!.sizeBytes).toBe(before.get('b/z')!.sizeBytes);

  // A full run then finds exactly the two out-of-scope changes.
  expect(await index()).toMatchObject({ updated: 2, added: 0, deleted: 0 });
  after = await entries(locationUuid);
  expect(after.get('b/z')!.sizeBytes).toBe('z, modified\n'.length);
});

test('scopes that are not stored directories, or are gone from disk, rescan their parent; a file moved between scopes keeps its entry', async () => {
  write('a/keep', 'keep\n');
  write('a/old-dir/file', 'file\n');
  write('c/moving', 'moving\n');
  const { locationUuid } = await index();
  const before = await entries(locationUuid);

  fs.rmSync(path.join(root, 'a/old-dir'), { recursive: true });
  write('a/brand-new/inside', 'inside\n');
  fs.mkdirSync(path.join(root, 'd'));
  fs.renameSync(path.join(root, 'c/moving'), path.join(root, 'd/moved'));
  // a/old-dir is gone and a/brand-new is not stored: both resolve to a. d is not stored: the root.
  const summary = await index(['a/old-dir', 'a/brand-new', 'c', 'd']);
  expect(summary).toMatchObject({ moved: 1, deleted: 2 });
  const after = await entries(locationUuid);
  expect(after.get('d/moved')!.uuid).toBe(before.get('c/moving')!.uuid);
  expect(after.get('a/brand-new/inside')).toBeDefined();
  expect(after.has('a/old-dir')).toBe(false);
  expect(await index()).toMatchObject({ added: 0, updated: 0, deleted: 0, moved: 0 });
});

test('a scope outside the location is refused', async () => {
  write('a/file', 'file\n');
  await index();
  await expect(index(['../elsewhere'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  await expect(index(['/etc'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
});

test('a scoped rescan over a directory stored twice (two writers at once) deletes the second entry and keeps the subtree', async () => {
  write('d/x.txt', 'x\n');
  write('d/y.txt', 'y\n');
  write('e.txt', 'e\n');
  const { locationUuid } = await index();
  const d = (await entries(locationUuid)).get('d')!;
  // Another entry at `d`, as a node's watcher and `tidemark index` could store one at once.
  const twin = randomUUID();
  const stat = fs.lstatSync(path.join(root, 'd'));
  await library.write(async (tx) => {
    await tx.put('entry', { ...d, uuid: twin });
    await recordEntryFileIds(tx, locationUuid, [
      { entryUuid: twin, device: stat.dev, inode: stat.ino, birthMs: Math.floor(stat.birthtimeMs) },
    ]);
  });
  // What is under `d` names the twin (the other writer stored them too).
  const children = [...(await entries(locationUuid)).values()].filter((e) => e.relativePath.startsWith('d/'));
  await library.write(async (tx) => {
    for (const child of children) await tx.put('entry', { ...child, parentUuid: twin });
  });
  write('f.txt', 'f\n');
  // The root's own children, as the watcher's run after an event in the root.
  expect(await index([''])).toMatchObject({ added: 1, deleted: 1 });
  const stored = await collect(readEntriesOfLocation(library, locationUuid));
  expect(stored.map((entry) => entry.relativePath).sort()).toEqual([
    'd',
    'd/x.txt',
    'd/y.txt',
    'e.txt',
    'f.txt',
  ]);
  // One of the two is kept, and what is under it names it.
  const kept = stored.find((entry) => entry.relativePath === 'd')!;
  expect([d.uuid, twin]).toContain(kept.uuid);
  for (const entry of stored.filter((e) => e.relativePath.startsWith('d/'))) {
    expect(entry.parentUuid).toBe(kept.uuid);
  }
});
