/**
 * Inputs that once left the library wrong for good, however often the location was indexed again:
 * names the walk decoded as another name, entries `index A B` kept at paths that now hold what the
 * walk does not index, a content read while the file was rewritten in place, and a deleted file
 * protected by a non-UTF-8 sibling's lossy name. Real files, real SQLite, the real indexer.
 */
import { contentUuidOf, Library } from '@tidemark/engine';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { indexLocation, IndexOptions } from '../src/indexer/index-location';
import { indexLocations } from '../src/indexer/index-locations';
import { entriesOf, expectStoreIsDisk, writeUnder } from './index-helpers';
import { removeTempDirs, tempDir } from './harness';

afterAll(removeTempDirs);

const OPTIONS: IndexOptions = { batchSize: 2, hashThreads: 0 };
const contentOf = (text: string) => contentUuidOf(createHash('sha256').update(text).digest('hex'));

let library: Library;
let root: string;

beforeEach(async () => {
  library = await Library.create(Library.fileIn(tempDir()));
  root = tempDir();
});

afterEach(async () => {
  await library.close();
});

/** `files` written under `root`, indexed by `tidemark index A B` with another location holding `otherFile`. */
async function indexedBesideAnother(files: Record<string, string>, otherFile = 'b.txt') {
  const other = tempDir();
  for (const [relativePath, text] of Object.entries(files)) writeUnder(root, relativePath, text);
  writeUnder(other, otherFile, 'in the other location\n');
  const [{ locationUuid }] = await indexLocations(library, [root, other], OPTIONS);
  return { locationUuid, other };
}

test('a name that begins with U+FEFF (a byte order mark) is indexed under its own name', async () => {
  writeUnder(root, '\ufeffnotes.txt', 'with a BOM in its name\n');
  writeUnder(root, '\ufeffdir/inside.txt', 'inside\n');
  const problems: string[] = [];
  const { locationUuid } = await indexLocation(library, root, {
    ...OPTIONS,
    onProblem: (problem) => problems.push(`${problem.relativePath}: ${problem.reason}`),
  });
  expect(problems).toEqual([]);
  await expectStoreIsDisk(library, locationUuid, root);
});

test('a name with a U+FEFF prefix beside the same name without it: two entries, each with its own content', async () => {
  writeUnder(root, 'same.txt', 'plain\n');
  writeUnder(root, '\ufeffsame.txt', 'with a BOM\n');
  const { locationUuid } = await indexLocation(library, root, OPTIONS);
  const stored = await entriesOf(library, locationUuid);
  expect(stored.get('same.txt')?.contentUuid).toBe(contentOf('plain\n'));
  expect(stored.get('\ufeffsame.txt')?.contentUuid).toBe(contentOf('with a BOM\n'));
});

test('tidemark index A B: a file replaced by a FIFO has its entry deleted, as indexing A alone does', async () => {
  const { locationUuid, other } = await indexedBesideAnother({
    pipe: 'a file for now\n',
    'kept.txt': 'kept\n',
  });
  expect((await entriesOf(library, locationUuid)).has('pipe')).toBe(true);

  fs.unlinkSync(path.join(root, 'pipe'));
  execFileSync('mkfifo', [path.join(root, 'pipe')]);
  for (let run = 0; run < 2; run++) {
    const [summary] = await indexLocations(library, [root, other], OPTIONS);
    expect(summary.skipped).toBe(1);
    // A FIFO is no entry: the file stored at its path is gone.
    expect([...(await entriesOf(library, locationUuid)).keys()]).toEqual(['kept.txt']);
  }
});

test('tidemark index A B: entries under a directory replaced by a symlink to a directory are deleted', async () => {
  const { locationUuid, other } = await indexedBesideAnother({ 'd/f.txt': 'under d\n' }, 'f.txt');
  expect((await entriesOf(library, locationUuid)).has('d/f.txt')).toBe(true);

  // d becomes a symlink to a directory that holds an f.txt: the walk does not follow it.
  fs.rmSync(path.join(root, 'd'), { recursive: true });
  fs.symlinkSync(other, path.join(root, 'd'));
  for (let run = 0; run < 2; run++) {
    await indexLocations(library, [root, other], OPTIONS);
    await expectStoreIsDisk(library, locationUuid, root);
  }
});

test('a file rewritten in place while the run goes (its mtime kept, as cp -p or rsync --inplace -t do) is not stored with the content of a half-written read', async () => {
  const file = path.join(root, 'a.txt');
  const before = 'x'.repeat(1000);
  const after = 'y'.repeat(1000);
  writeUnder(root, 'a.txt', before);
  const mtime = new Date('2020-01-01T00:00:00Z');
  fs.utimesSync(file, mtime, mtime);
  for (let i = 0; i < 300; i++) writeUnder(root, `b/${String(i).padStart(3, '0')}`, `${i}`);
  let rewriting = false;
  const { locationUuid } = await indexLocation(library, root, {
    hashThreads: 0,
    // Called as the walk goes: a.txt has been walked (stat'ed) but not read yet.
    onProgress: ({ finished }) => {
      if (finished || rewriting) return;
      rewriting = true;
      fs.writeFileSync(file, after.slice(0, 400)); // the rewrite has begun: truncated, part written
    },
  });
  expect(rewriting).toBe(true);
  // The rewrite ends, and sets the mtime the file had (the one the walk saw).
  fs.writeFileSync(file, after);
  fs.utimesSync(file, mtime, mtime);
  for (let run = 0; run < 2; run++) {
    await indexLocation(library, root, OPTIONS);
    const entry = (await entriesOf(library, locationUuid)).get('a.txt')!;
    expect([entry.sizeBytes, entry.contentUuid]).toEqual([1000, contentOf(after)]);
  }
});

test('a deleted file whose name is what a non-UTF-8 sibling name shows as (U+FFFD) has its entry deleted', async () => {
  writeUnder(root, 'caf\ufffd.txt', 'renamed once by a tool that replaced the bad byte\n');
  // Its sibling, named in Latin-1: not UTF-8, so not indexable, shown as "caf\ufffd.txt".
  fs.writeFileSync(
    Buffer.concat([Buffer.from(`${root}/caf`), Buffer.from([0xe9]), Buffer.from('.txt')]),
    'latin-1\n',
  );
  const { locationUuid } = await indexLocation(library, root, OPTIONS);
  expect([...(await entriesOf(library, locationUuid)).keys()]).toEqual(['caf\ufffd.txt']);

  fs.unlinkSync(path.join(root, 'caf\ufffd.txt'));
  for (let run = 0; run < 2; run++) {
    const summary = await indexLocation(library, root, OPTIONS);
    expect(summary.unreadable).toBe(1); // the Latin-1 name, reported
    expect([...(await entriesOf(library, locationUuid)).keys()]).toEqual([]);
  }
});

test('tidemark index A B: entries under a path now excluded (the library directory put inside A) are deleted, as indexing A alone does', async () => {
  const { locationUuid, other } = await indexedBesideAnother({
    'kept.txt': 'kept\n',
    'library/notes.txt': 'indexed before the library moved in\n',
  });
  expect((await entriesOf(library, locationUuid)).has('library/notes.txt')).toBe(true);
  const exclude = [path.join(root, 'library')];
  for (let run = 0; run < 2; run++) {
    await indexLocations(library, [root, other], { ...OPTIONS, exclude });
    expect([...(await entriesOf(library, locationUuid)).keys()]).toEqual(['kept.txt']);
  }
});
