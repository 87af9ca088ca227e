/**
 * Renames and moves keep their entry (moved-entries.ts): real files renamed on disk, indexed with
 * the real indexer into a real library. Small batches make every move cross a batch, in both
 * walk orders (the new path before the old one, and after it).
 */
import { forgetEntryFileIds, Library, recordEntryFileIds } from '@tidemark/engine';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GroupedWrites } from '../src/indexer/grouped-writes';
import { indexLocation, IndexOptions, IndexSummary } from '../src/indexer/index-location';
import { MovedEntries } from '../src/indexer/moved-entries';
import {
  entriesOf,
  entryTombstonesOf,
  expectStoreIsDisk as expectStoreIsDiskOf,
  writeUnder,
} from './index-helpers';
import { removeTempDirs, tempDir } from './harness';

afterAll(removeTempDirs);

const OPTIONS: IndexOptions = { batchSize: 2, hashThreads: 0 };

let library: Library;
let root: string;

beforeEach(async () => {
  library = await Library.create(Library.fileIn(tempDir()));
  root = tempDir();
});

afterEach(async () => {
  jest.restoreAllMocks();
  await library.close();
});

const write = (relative: string, text: string) => writeUnder(root, relative, text);

const move = (from: string, to: string) => {
  fs.mkdirSync(path.dirname(path.join(root, to)), { recursive: true });
  fs.renameSync(path.join(root, from), path.join(root, to));
};

async function index(batchSize = OPTIONS.batchSize): Promise<IndexSummary> {
  return indexLocation(library, root, { ...OPTIONS, batchSize });
}

const entries = (locationUuid: string) => entriesOf(library, locationUuid);
const entryTombstones = () => entryTombstonesOf(library);
const expectStoreIsDisk = (locationUuid: string) => expectStoreIsDiskOf(library, locationUuid, root);

test('a renamed or moved file keeps its entry and content, in either walk order, with no tombstone and no hashing', async () => {
  write('m/keep', 'keep\n');
  write('m/rename-me', 'renamed\n');
  write('z/to-front', 'to the front\n');
  write('b/to-back', 'to the back\n');
  const { locationUuid } = await index();
  const before = await entries(locationUuid);

  move('m/rename-me', 'm/renamed');
  move('z/to-front', 'a/front'); // the new path is walked before the old one is passed
  move('b/to-back', 'y/back'); // the old path is passed before the new one is walked
  const summary = await index();
  expect(summary).toMatchObject({ moved: 3, added: 2, deleted: 0, hashed: 0, contentAdded: 0 });
  const after = await entries(locationUuid);
  for (const [from, to] of [
    ['m/rename-me', 'm/renamed'],
    ['z/to-front', 'a/front'],
    ['b/to-back', 'y/back'],
  ]) {
    expect([to, after.get(to)?.uuid, after.get(to)?.contentUuid]).toEqual([
      to,
      before.get(from)!.uuid,
      before.get(from)!.contentUuid,
    ]);
  }
  // The directories a and y are new; z and b are still there, empty: nothing was deleted.
  expect(await entryTombstones()).toEqual([]);
  await expectStoreIsDisk(locationUuid);
  expect(await index()).toMatchObject({ moved: 0, added: 0, updated: 0, deleted: 0, transactions: 0 });
});

// One batch: the children are compared before their directory's move is resolved.
test.each([2, 5_000])(
  'batches of %i: a moved directory keeps its entry and its whole subtree keeps theirs, children naming it as parent',
  async (batchSize) => {
    write('n/dir/one', '1\n');
    write('n/dir/sub/two', '2\n');
    write('n/dir/sub/three', '3\n');
    write('c/early/four', '4\n');
    const { locationUuid } = await index();
    const before = await entries(locationUuid);

    move('n/dir', 'b/dir-moved'); // to a path walked earlier
    move('c/early', 'x/late'); // to a path walked later
    expect(await index(batchSize)).toMatchObject({ moved: 7, added: 2, deleted: 0, hashed: 0 });
    const after = await entries(locationUuid);
    for (const [from, to] of [
      ['n/dir', 'b/dir-moved'],
      ['n/dir/one', 'b/dir-moved/one'],
      ['n/dir/sub', 'b/dir-moved/sub'],
      ['n/dir/sub/two', 'b/dir-moved/sub/two'],
      ['n/dir/sub/three', 'b/dir-moved/sub/three'],
      ['c/early', 'x/late'],
      ['c/early/four', 'x/late/four'],
    ]) {
      expect([to, after.get(to)?.uuid]).toEqual([to, before.get(from)!.uuid]);
    }
    await expectStoreIsDisk(locationUuid);
  },
);

test('a path that still exists keeps its own entry: a file replaced by rename, or a new file where a moved one was', async () => {
  write('doc.txt', 'v1\n');
  write('a', 'a\n');
  const { locationUuid } = await index();
  const before = await entries(locationUuid);

  // An editor's save: a new inode renamed over the path.
  write('.doc.txt.swp', 'v2, longer\n');
  move('.doc.txt.swp', 'doc.txt');
  // Moved away, and a new file created at the old path in the same run: the path keeps its entry.
  move('a', 'b');
  write('a', 'another a\n');
  expect(await index()).toMatchObject({ moved: 0, added: 1, updated: 2 });
  let after = await entries(locationUuid);
  expect(after.get('doc.txt')!.uuid).toBe(before.get('doc.txt')!.uuid);
  expect(after.get('a')!.uuid).toBe(before.get('a')!.uuid);
  await expectStoreIsDisk(locationUuid);

  // Moved in one run, and a new file at the old path in the next: the moved entry still holds the
  // uuid derived from the old path, so the new file takes another.
  move('b', 'c');
  expect(await index()).toMatchObject({ moved: 1 });
  write('b', 'b again\n');
  expect(await index()).toMatchObject({ added: 1, moved: 0 });
  after = await entries(locationUuid);
  expect(after.get('c')!.contentUuid).not.toBe(after.get('b')!.contentUuid);
  await expectStoreIsDisk(locationUuid);
});

test('a file replaced by another with the same size and mtime (rsync, save-by-rename) is read again', async () => {
  write('same', 'first\n');
  const { locationUuid } = await index();
  const before = (await entries(locationUuid)).get('same')!;
  const { mtime } = fs.statSync(path.join(root, 'same'));
  write('.same.tmp', 'other\n'); // same length
  fs.utimesSync(path.join(root, '.same.tmp'), mtime, mtime);
  move('.same.tmp', 'same');
  expect(await index()).toMatchObject({ hashed: 1, updated: 1, moved: 0 });
  const after = (await entries(locationUuid)).get('same')!;
  expect(after.uuid).toBe(before.uuid);
  expect(after.contentUuid).not.toBe(before.contentUuid);
});

test('a file written where one was removed, with the same size and mtime and the old inode number, is read again: the birth time tells them apart', async () => {
  // As npm updates a package: `rm -r`, then the new files, every one stamped 1985-10-26. ext4
  // may hand the freed inode number to the new file (not always: so the stored record is made
  // to say the old file had the new one's number, with the old file's birth time).
  const NPM_MTIME = new Date('1985-10-26T08:15:00Z');
  const put = (version: string) => {
    write('pkg/package.json', `{"version":"${version}"}\n`);
    fs.utimesSync(path.join(root, 'pkg/package.json'), NPM_MTIME, NPM_MTIME);
  };
  put('1.2.3');
  const { locationUuid } = await index();
  const before = (await entries(locationUuid)).get('pkg/package.json')!;
  const old = fs.statSync(path.join(root, 'pkg/package.json'));
  fs.rmSync(path.join(root, 'pkg/package.json'));
  // Another birth time than the old file's, whatever the clock's resolution.
  await new Promise((resolve) => setTimeout(resolve, 20));
  put('1.2.4');
  const now = fs.statSync(path.join(root, 'pkg/package.json'));
  expect(Math.floor(now.birthtimeMs)).not.toBe(Math.floor(old.birthtimeMs));
  await library.write((tx) =>
    recordEntryFileIds(tx, locationUuid, [
      { entryUuid: before.uuid, device: now.dev, inode: now.ino, birthMs: Math.floor(old.birthtimeMs) },
    ]),
  );
  expect(await index()).toMatchObject({ hashed: 1 });
  const after = (await entries(locationUuid)).get('pkg/package.json')!;
  expect(after.uuid).toBe(before.uuid);
  expect(after.contentUuid).not.toBe(before.contentUuid);
});

test('a new hard link, or a moved file whose mtime moved too, is a new entry', async () => {
  write('f', 'f\n');
  write('g', 'g\n');
  const { locationUuid } = await index();
  const before = await entries(locationUuid);

  fs.linkSync(path.join(root, 'f'), path.join(root, 'f-link'));
  move('g', 'h');
  fs.utimesSync(path.join(root, 'h'), new Date(2_000_000_000_000), new Date(2_000_000_000_000));
  expect(await index()).toMatchObject({ moved: 0, added: 2, deleted: 1 });
  const after = await entries(locationUuid);
  expect(after.get('f')!.uuid).toBe(before.get('f')!.uuid);
  expect(after.get('f-link')!.uuid).not.toBe(before.get('f')!.uuid);
  expect(after.get('h')!.uuid).not.toBe(before.get('g')!.uuid);
  await expectStoreIsDisk(locationUuid);
});

test('entries indexed before files were recorded get them on the next run, and then keep their identity', async () => {
  write('old/file', 'old\n');
  const { locationUuid } = await index();
  const before = await entries(locationUuid);
  await library.write((tx) =>
    forgetEntryFileIds(
      tx,
      [...before.values()].map((entry) => entry.uuid),
    ),
  );

  expect(await index()).toMatchObject({ unchanged: 2, updated: 0, transactions: 1 });
  move('old', 'new');
  expect(await index()).toMatchObject({ moved: 2, added: 0, deleted: 0 });
  expect((await entries(locationUuid)).get('new/file')!.uuid).toBe(before.get('old/file')!.uuid);
});

test('a run holds a claim only while its batch is being written: a renamed directory of many files holds a few batches of claims, not the directory', async () => {
  const files = 120;
  for (let i = 0; i < files; i++) write(`z/big/${String(i).padStart(3, '0')}`, `${i}\n`);
  const { locationUuid } = await index();
  const before = await entries(locationUuid);
  // To a path walked first: every claim is made before the walk's stored side reaches the old paths.
  move('z/big', 'a/big');
  const batchSize = 5;
  let most = 0;
  const resolve = MovedEntries.prototype.resolve;
  jest.spyOn(MovedEntries.prototype, 'resolve').mockImplementation(async function (
    this: MovedEntries,
    batch,
  ) {
    await resolve.call(this, batch);
    most = Math.max(most, this.claimsInFlight);
  });
  expect(await index(batchSize)).toMatchObject({ moved: files + 1, added: 1, deleted: 0, hashed: 0 });
  // The batch just resolved and the one before it, still being written.
  expect(most).toBeGreaterThan(0);
  expect(most).toBeLessThanOrEqual(2 * batchSize);
  const after = await entries(locationUuid);
  for (let i = 0; i < files; i++) {
    const name = String(i).padStart(3, '0');
    expect([name, after.get(`a/big/${name}`)?.uuid]).toEqual([name, before.get(`z/big/${name}`)!.uuid]);
  }
  expect(await entryTombstones()).toEqual([]);
  await expectStoreIsDisk(locationUuid);
});

test('an entry claimed by a move whose batch is not committed yet is not claimed again by a hard link of the file in the next batch', async () => {
  write('f', 'f\n');
  const { locationUuid } = await index();
  const before = await entries(locationUuid);
  move('f', 'm1');
  fs.linkSync(path.join(root, 'm1'), path.join(root, 'm2'));
  // m1's batch is committed only after m2's batch was resolved: the library's reads still show
  // the entry at f, gone from disk, when m2 is looked up.
  let resolved = 0;
  let secondResolved!: () => void;
  const second = new Promise<void>((done) => (secondResolved = done));
  const resolve = MovedEntries.prototype.resolve;
  jest.spyOn(MovedEntries.prototype, 'resolve').mockImplementation(async function (
    this: MovedEntries,
    batch,
  ) {
    await resolve.call(this, batch);
    if (batch.length > 0 && ++resolved === 2) secondResolved();
  });
  const writeBatch = GroupedWrites.prototype.write;
  let writes = 0;
  jest.spyOn(GroupedWrites.prototype, 'write').mockImplementation(function (this: GroupedWrites, ...args) {
    return ++writes === 1 ? second.then(() => writeBatch.apply(this, args)) : writeBatch.apply(this, args);
  });
  expect(await index(1)).toMatchObject({ moved: 1, added: 1, deleted: 0 });
  const after = await entries(locationUuid);
  expect(after.get('m1')?.uuid).toBe(before.get('f')!.uuid);
  expect(after.get('m2')?.uuid).not.toBe(before.get('f')!.uuid);
  await expectStoreIsDisk(locationUuid);
});

test("a move's commit that lands while the next batch is being resolved does not let a hard link of the file take the same entry", async () => {
  write('z/f', 'f\n');
  const { locationUuid } = await index(1);
  const before = await entries(locationUuid);
  move('z/f', 'd/a');
  fs.linkSync(path.join(root, 'd/a'), path.join(root, 'd/b'));
  // d/b's batch reads the entries by inode (d/a's move not yet committed: the entry is at z/f,
  // gone from disk), then waits at its next read until d/a's claim is let go at its commit.
  let letGo!: () => void;
  const moveCommitted = new Promise<void>((done) => (letGo = done));
  const release = MovedEntries.prototype.release;
  jest.spyOn(MovedEntries.prototype, 'release').mockImplementation(function (this: MovedEntries, claims) {
    release.call(this, claims);
    if (claims.length > 0) letGo();
  });
  let resolvingLink = false;
  const resolve = MovedEntries.prototype.resolve;
  jest.spyOn(MovedEntries.prototype, 'resolve').mockImplementation(async function (
    this: MovedEntries,
    batch,
  ) {
    resolvingLink = batch.some((compared) => compared.walked.relativePath === 'd/b');
    await resolve.call(this, batch);
  });
  type Reads = { query: (sql: string, params?: readonly unknown[]) => Promise<unknown[]> };
  const db = (library as unknown as { db: { read: Reads } }).db;
  const read = db.read;
  jest.spyOn(db, 'read', 'get').mockReturnValue({
    ...read,
    query: async (sql: string, params?: readonly unknown[]) => {
      if (resolvingLink && /SELECT uuid FROM entries\s+WHERE uuid IN/.test(sql)) await moveCommitted;
      return read.query(sql, params);
    },
  });
  expect(await index(1)).toMatchObject({ moved: 1, added: 2, deleted: 0 });
  const after = await entries(locationUuid);
  expect(after.get('d/a')?.uuid).toBe(before.get('z/f')!.uuid);
  expect(after.has('d/b')).toBe(true);
  expect(after.get('d/b')?.uuid).not.toBe(before.get('z/f')!.uuid);
  await expectStoreIsDisk(locationUuid);
});
