import { Entry, EntryKind } from '@tidemark/proto';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  contentUuidOf,
  encodeHlc,
  entryUuidOf,
  readEntriesOfLocation,
  readEntryAt,
  readRecord,
  stableUuid,
} from '@tidemark/engine';
import { rewriteRowInPlace } from '@tidemark/engine/testing';
import { removeTempDirs, runCli, runCliJson, tempDir } from './harness';
import {
  collect,
  copyDocSubset,
  headSeq,
  independentWalk,
  IndexJson,
  recordsIn,
  syncInProcess,
  tombstoneUuidsIn,
  withLibraryAt,
} from './index-helpers';

afterAll(removeTempDirs);

interface EntryRow {
  uuid: string;
  parent_uuid: string;
  relative_path: string;
  kind: number;
  size_bytes: number;
  modified_at_ms: number;
  content_uuid: string;
  hlc: string;
}

const entryRowOf = (entry: Entry): EntryRow => ({
  uuid: entry.uuid,
  parent_uuid: entry.parentUuid,
  relative_path: entry.relativePath,
  kind: entry.kind,
  size_bytes: entry.sizeBytes,
  modified_at_ms: entry.modifiedAtMs,
  content_uuid: entry.contentUuid,
  hlc: encodeHlc(entry.hlc!),
});

/** The stored entries of a location, in path order. */
const entriesOf = (dir: string, locationUuid: string) =>
  withLibraryAt(dir, async (library) =>
    (await collect(readEntriesOfLocation(library, locationUuid))).map(entryRowOf),
  );

/** Which of `uuids` are held as entry tombstones, and which still as entries. */
const tombstonedIn = async (dir: string, uuids: readonly string[]) =>
  (await tombstoneUuidsIn(dir, ['entry'])).filter((uuid) => uuids.includes(uuid));
const entriesHeldIn = (dir: string, uuids: readonly string[]) =>
  withLibraryAt(dir, async (library) => {
    const held: string[] = [];
    for (const uuid of uuids) if (await readRecord(library, 'entry', uuid)) held.push(uuid);
    return held;
  });

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** The stored entries are exactly what an independent walk finds: same paths, same kinds. */
function expectMatchesDisk(rows: readonly EntryRow[], tree: string): void {
  const disk = independentWalk(tree);
  expect(rows.map((row) => [row.relative_path, Number(row.kind)])).toEqual(
    [...disk.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

test('index a real folder, re-index unchanged (no writes), then after deletes, adds and a modification', async () => {
  const [libA, libB, base] = [tempDir(), tempDir(), tempDir()];
  const tree = path.join(base, 'doc');
  copyDocSubset(tree, 2_000);
  // Symlinks are recorded, never followed: one dangles, one loops back to its own directory.
  fs.symlinkSync('/nonexistent/tidemark-target', path.join(tree, 'dangling'));
  fs.symlinkSync('.', path.join(tree, 'loop'));
  const { libraryId } = await runCliJson<{ libraryId: string }>(['init', '--library', libA]);
  await runCliJson(['init', '--library', libB, '--library-id', libraryId]);

  const first = await runCliJson<IndexJson>(['index', '--library', libA, tree]);
  const disk = independentWalk(tree);
  console.log(
    `indexed ${first.scanned} entries (${[...disk.values()].filter((k) => k === EntryKind.ENTRY_KIND_FILE).length} files) ` +
      `of a /usr/share/doc copy in ${first.seconds.toFixed(2)} s; ${first.contentAdded} content identities`,
  );
  expect(first).toMatchObject({
    added: disk.size,
    scanned: disk.size,
    updated: 0,
    deleted: 0,
    unreadable: 0,
  });
  expect(disk.size).toBeGreaterThanOrEqual(2_000);
  let rows = await entriesOf(libA, first.locationUuid);
  expectMatchesDisk(rows, tree);

  const byPath = new Map(rows.map((row) => [row.relative_path, row]));
  for (const row of rows) {
    const parent = path.posix.dirname(row.relative_path);
    expect(row.parent_uuid).toBe(parent === '.' ? '' : byPath.get(parent)!.uuid);
    if (Number(row.kind) === EntryKind.ENTRY_KIND_FILE) expect(row.content_uuid).not.toBe('');
    else expect([row.content_uuid, row.size_bytes]).toEqual(['', 0]);
  }
  // Small files are hashed whole: content_hash is sha256sum, and the uuid is derived from it.
  const smallFiles = rows.filter(
    (r) => Number(r.kind) === EntryKind.ENTRY_KIND_FILE && r.size_bytes < 100_000,
  );
  for (const row of smallFiles.slice(0, 20)) {
    const hash = sha256(path.join(tree, row.relative_path));
    expect(row.content_uuid).toBe(contentUuidOf(hash));
    const content = await withLibraryAt(libA, async (library) => {
      const stored = await readRecord(library, 'content_identity', row.content_uuid);
      return stored && { content_hash: stored.contentHash, size_bytes: stored.sizeBytes };
    });
    expect(content).toEqual({ content_hash: hash, size_bytes: row.size_bytes });
  }
  const [volume] = await recordsIn(libA, 'volume');
  expect(volume.mountPoint).toBe(first.mountPoint);
  expect(volume.capacityBytes).toBeGreaterThan(0);

  // Unchanged tree: nothing is written, so the change sequence does not move.
  const head = await headSeq(libA);
  const second = await runCliJson<IndexJson>(['index', '--library', libA, tree]);
  expect(second).toMatchObject({ added: 0, updated: 0, deleted: 0, unchanged: disk.size, transactions: 0 });
  expect(second.locationUuid).toBe(first.locationUuid);
  expect(second.volumeUuid).toBe(first.volumeUuid);
  expect(await headSeq(libA)).toBe(head);

  // B gets A's index through the sync engine (in process, through the wire encoding).
  await syncInProcess(libB, libA);
  expect(await entriesOf(libB, first.locationUuid)).toEqual(rows);

  // Mutate: remove 5 files and one directory tree, add 4 objects, rewrite one file.
  const files = rows.filter((r) => Number(r.kind) === EntryKind.ENTRY_KIND_FILE);
  const removedDir = rows.find(
    (r) =>
      Number(r.kind) === EntryKind.ENTRY_KIND_DIRECTORY &&
      rows.filter((c) => c.relative_path.startsWith(`${r.relative_path}/`)).length >= 3,
  )!;
  const underRemoved = (p: string) =>
    p === removedDir.relative_path || p.startsWith(`${removedDir.relative_path}/`);
  const survivors = files.filter((r) => !underRemoved(r.relative_path));
  const removedFiles = [0, 1, 2, 3, 4].map((i) => survivors[Math.floor((i * survivors.length) / 5)]);
  const modified = survivors.find((r) => !removedFiles.includes(r) && r.size_bytes > 0)!;
  const removed = [...removedFiles, ...rows.filter((r) => underRemoved(r.relative_path))];
  for (const row of removedFiles) fs.rmSync(path.join(tree, row.relative_path));
  fs.rmSync(path.join(tree, removedDir.relative_path), { recursive: true });
  fs.mkdirSync(path.join(tree, 'added'));
  fs.writeFileSync(path.join(tree, 'added', 'one.txt'), 'one\n');
  fs.writeFileSync(path.join(tree, 'added', 'two.txt'), 'two\n');
  fs.writeFileSync(path.join(tree, 'new-top.txt'), 'new top-level file\n');
  const modifiedFile = path.join(tree, modified.relative_path);
  fs.writeFileSync(modifiedFile, 'rewritten by the test\n');
  const modifiedAt = new Date('2001-09-09T01:46:40Z');
  fs.utimesSync(modifiedFile, modifiedAt, modifiedAt);

  const third = await runCliJson<IndexJson>(['index', '--library', libA, tree]);
  expect(third).toMatchObject({ added: 4, deleted: removed.length, unreadable: 0 });
  // The rewritten file, plus the directories whose listings changed (their mtime moved).
  expect(third.updated).toBeGreaterThanOrEqual(1);
  rows = await entriesOf(libA, first.locationUuid);
  expectMatchesDisk(rows, tree);
  const after = rows.find((r) => r.relative_path === modified.relative_path)!;
  expect(after).toMatchObject({
    uuid: modified.uuid,
    size_bytes: 'rewritten by the test\n'.length,
    modified_at_ms: modifiedAt.getTime(),
    content_uuid: contentUuidOf(sha256(modifiedFile)),
  });
  expect(after.hlc > modified.hlc).toBe(true);
  const removedUuids = removed.map((r) => r.uuid);
  const tombstones = await tombstonedIn(libA, removedUuids);
  expect(tombstones).toHaveLength(removed.length);
  expect(await entriesHeldIn(libA, removedUuids)).toEqual([]);
  for (const p of ['added', 'added/one.txt', 'added/two.txt', 'new-top.txt']) {
    expect(rows.some((r) => r.relative_path === p)).toBe(true);
  }

  // The changes, tombstones included, reach B.
  await syncInProcess(libB, libA);
  expect(await entriesOf(libB, first.locationUuid)).toEqual(rows);
  expect(await tombstonedIn(libB, removedUuids)).toHaveLength(removed.length);
});

test('unreadable objects are reported on stderr and skipped; the run goes on and exits 0', async () => {
  const lib = tempDir();
  // A long root name makes the deep chain below fail with the kernel's own ENAMETOOLONG (its
  // absolute path passes PATH_MAX) before its relative path reaches the 4096-byte proto limit.
  const base = tempDir();
  const root = path.join(base, 'r'.repeat(120));
  fs.mkdirSync(root);
  try {
    fs.writeFileSync(path.join(root, 'ok.txt'), 'fine\n');
    fs.writeFileSync(path.join(root, 'becomes-fifo'), 'a file, for now\n');
    // Root can read a chmod 000 file, so these fail for root too:
    // 1. a name that is not UTF-8 (it cannot be stored in a proto string, nor stat'ed under a
    //    lossy name);
    fs.writeFileSync(
      Buffer.concat([Buffer.from(`${root}/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]),
      'x',
    );
    // 2. a directory chain deeper than PATH_MAX (lstat fails with ENAMETOOLONG);
    execFileSync('bash', [
      '-c',
      `cd "$1" && for i in $(seq 1 45); do mkdir "$2" && cd "$2"; done`,
      '-',
      root,
      'd'.repeat(100),
    ]);
    // 3. a FIFO: not a file, directory or symlink, so skipped (and never opened: that would block).
    execFileSync('mkfifo', [path.join(root, 'pipe')]);

    await runCliJson(['init', '--library', lib]);
    const first = await runCli(['index', '--library', lib, root, '--json']);
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout) as IndexJson;
    expect(summary).toMatchObject({ unreadable: 2, skipped: 1, deleted: 0 });
    const stderr = first.stderr.split('\n').filter(Boolean);
    expect(stderr).toHaveLength(3);
    expect(stderr).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^unreadable: .*\/bad-\uFFFD\uFFFD\.txt: name is not valid UTF-8$/),
        expect.stringMatching(/^unreadable: .*\/d{100}: ENAMETOOLONG: name too long$/),
        expect.stringMatching(/\/pipe: a FIFO$/),
      ]),
    );
    const paths = (await recordsIn(lib, 'entry')).map((r) => r.relativePath);
    expect(paths).toEqual(expect.arrayContaining(['ok.txt', 'becomes-fifo', 'd'.repeat(100)]));
    expect(paths.some((p) => p.includes('pipe') || p.includes('bad-'))).toBe(false);
    // Everything up to the unreadable level: as deep as the absolute path still fits.
    const deepest = Math.max(...paths.map((p) => p.split('/').length));
    expect(path.join(root, ...Array<string>(deepest).fill('d'.repeat(100))).length).toBeLessThan(4096);
    expect(
      path.join(root, ...Array<string>(deepest + 1).fill('d'.repeat(100))).length,
    ).toBeGreaterThanOrEqual(4096);

    // Problems do not make re-runs write: still nothing changed.
    const head = await headSeq(lib);
    const again = await runCliJson<IndexJson>(['index', '--library', lib, root]);
    expect(again).toMatchObject({ added: 0, updated: 0, deleted: 0, unreadable: 2, skipped: 1 });
    expect(await headSeq(lib)).toBe(head);

    // A file replaced by a FIFO is known to be gone: its entry is deleted, the FIFO skipped.
    fs.rmSync(path.join(root, 'becomes-fifo'));
    execFileSync('mkfifo', [path.join(root, 'becomes-fifo')]);
    const third = await runCliJson<IndexJson>(['index', '--library', lib, root]);
    expect(third).toMatchObject({ deleted: 1, skipped: 2, unreadable: 2 });
  } finally {
    // Node's rm cannot reach below PATH_MAX; GNU rm walks with openat.
    execFileSync('rm', ['-rf', base]);
  }
});

test('index errors: missing path, not a directory, missing library; --help has examples', async () => {
  const lib = tempDir();
  await runCliJson(['init', '--library', lib]);
  const missing = await runCli(['index', '--library', lib, path.join(lib, 'nope')]);
  expect(missing.code).toBe(3);
  expect(missing.stderr).toMatch(/^tidemark: cannot index .*nope: ENOENT: no such file or directory\n$/);
  const file = await runCli(['index', '--library', lib, path.join(lib, 'library.db')]);
  expect(file.code).toBe(2);
  expect(file.stderr).toMatch(/not a directory/);
  const noLibrary = await runCli(['index', '--library', path.join(lib, 'none'), lib]);
  expect(noLibrary.code).toBe(3);
  const help = await runCli(['index', '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/Examples:\n\s+\$ tidemark index --library/);
});

// `tidemark index A B` indexed A, wrote its rows, then refused B: one typo cost a half-done run.
test.each([
  ['missing', 3, /^tidemark: cannot index .*nope: ENOENT/],
  ['a file', 2, /^tidemark: cannot index .*library\.db: not a directory\n$/],
])('index A B with B %s exits %i before it writes anything of A', async (_what, code, message) => {
  const [lib, tree] = [tempDir(), tempDir()];
  await runCliJson(['init', '--library', lib]);
  fs.writeFileSync(path.join(tree, 'a.txt'), 'a');
  const bad = code === 3 ? path.join(lib, 'nope') : path.join(lib, 'library.db');
  const before = await headSeq(lib);
  const result = await runCli(['index', '--library', lib, tree, bad]);
  expect(result.code).toBe(code);
  expect(result.stderr).toMatch(message);
  expect(await headSeq(lib)).toBe(before);
});

// `tidemark index --library DIR DIR`: the walk left out the library's directory only when it lay
// below the folder, so the database, its WAL and the device key were indexed (and synced).
test("indexing the library's own directory leaves out the library's files, not the others", async () => {
  const lib = tempDir();
  await runCliJson(['init', '--library', lib]);
  fs.writeFileSync(path.join(lib, 'notes.txt'), 'mine');
  const summary = await runCliJson<IndexJson>(['index', '--library', lib, lib]);
  expect(summary).toMatchObject({ scanned: 1, added: 1 });
  expect((await entriesOf(lib, summary.locationUuid)).map((row) => row.relative_path)).toEqual(['notes.txt']);
});

test('an entry whose stored parent is not its directory is rewritten, though nothing on disk moved', async () => {
  const [lib, base] = [tempDir(), tempDir()];
  const tree = path.join(base, 'tree');
  fs.mkdirSync(path.join(tree, 'albums', 'old'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'albums', 'old', 'a.txt'), 'a');
  await runCliJson(['init', '--library', lib]);
  const first = await runCliJson<IndexJson>(['index', '--library', lib, tree]);
  const before = new Map((await entriesOf(lib, first.locationUuid)).map((row) => [row.relative_path, row]));
  await withLibraryAt(lib, (library) =>
    rewriteRowInPlace(library, 'entry', before.get('albums/old/a.txt')!.uuid, {
      parentUuid: before.get('albums')!.uuid,
    }),
  );
  const second = await runCliJson<IndexJson>(['index', '--library', lib, tree]);
  expect(second).toMatchObject({ updated: 1, unchanged: 2, added: 0, deleted: 0, hashed: 0 });
  const after = new Map((await entriesOf(lib, first.locationUuid)).map((row) => [row.relative_path, row]));
  expect(after.get('albums/old/a.txt')!.parent_uuid).toBe(before.get('albums/old')!.uuid);
});

test('entries indexed with an earlier id layout keep their ids; new children name them as parent', async () => {
  const [lib, base] = [tempDir(), tempDir()];
  const tree = path.join(base, 'tree');
  fs.mkdirSync(path.join(tree, 'albums', 'old'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'albums', 'old', 'a.txt'), 'a');
  await runCliJson(['init', '--library', lib]);
  const first = await runCliJson<IndexJson>(['index', '--library', lib, tree]);
  // Before entry ids clustered by directory they were stableUuid(entry:location:path): give the
  // stored rows those ids, as a library indexed by that version has.
  const earlier = (relativePath: string) => stableUuid(`entry:${first.locationUuid}:${relativePath}`);
  await withLibraryAt(lib, async (library) => {
    for (const relativePath of ['albums', 'albums/old', 'albums/old/a.txt']) {
      const stored = await readEntryAt(library, first.locationUuid, relativePath);
      await rewriteRowInPlace(library, 'entry', stored!.uuid, { uuid: earlier(relativePath) });
    }
    await rewriteRowInPlace(library, 'entry', earlier('albums/old'), { parentUuid: earlier('albums') });
    await rewriteRowInPlace(library, 'entry', earlier('albums/old/a.txt'), {
      parentUuid: earlier('albums/old'),
    });
  });
  fs.writeFileSync(path.join(tree, 'albums', 'old', 'b.txt'), 'b');
  fs.mkdirSync(path.join(tree, 'albums', 'old', 'new'));
  fs.writeFileSync(path.join(tree, 'albums', 'old', 'new', 'c.txt'), 'c');
  const second = await runCliJson<IndexJson>(['index', '--library', lib, tree]);
  expect(second).toMatchObject({ added: 3, deleted: 0 });

  const rows = new Map((await entriesOf(lib, first.locationUuid)).map((row) => [row.relative_path, row]));
  for (const relativePath of ['albums', 'albums/old', 'albums/old/a.txt']) {
    expect(rows.get(relativePath)!.uuid).toBe(earlier(relativePath));
  }
  expect(rows.get('albums/old/b.txt')).toMatchObject({
    uuid: entryUuidOf(first.locationUuid, 'albums/old/b.txt'),
    parent_uuid: earlier('albums/old'),
  });
  expect(rows.get('albums/old/new')!.parent_uuid).toBe(earlier('albums/old'));
  expect(rows.get('albums/old/new/c.txt')!.parent_uuid).toBe(
    entryUuidOf(first.locationUuid, 'albums/old/new'),
  );
  expect(await tombstoneUuidsIn(lib)).toEqual([]);
});
