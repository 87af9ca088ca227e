import { Library, readRecord, WriteTransaction } from '@tidemark/engine';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { GroupedWrites } from './grouped-writes';

const HOUR_MS = 3_600_000;
let dir: string;
let library: Library;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-grouped-writes-'));
  library = await Library.create(Library.fileIn(dir));
});

afterEach(async () => {
  await library.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A batch that puts one tag, and its uuid. */
function tagBatch(): { uuid: string; apply: (tx: WriteTransaction) => Promise<void> } {
  const uuid = randomUUID();
  return { uuid, apply: (tx) => tx.put('tag', { uuid, name: `tag ${uuid}`, color: '' }) };
}

const stored = async (uuid: string) => (await readRecord(library, 'tag', uuid)) !== undefined;

test('a batch already on its way when the one before is written goes into the same transaction', async () => {
  const writes = new GroupedWrites(library, { rows: 100, holdMs: HOUR_MS });
  const [a, b, c] = [tagBatch(), tagBatch(), tagBatch()];
  writes.expect();
  writes.expect();
  writes.expect();
  await writes.write(1, a.apply);
  // Written, not committed: the transaction waits for the two batches expected.
  expect(await stored(a.uuid)).toBe(false);
  await writes.write(1, b.apply);
  await writes.write(1, c.apply);
  await writes.settle();
  expect(writes.committed).toBe(1);
  expect([await stored(a.uuid), await stored(b.uuid), await stored(c.uuid)]).toEqual([true, true, true]);
});

test("a batch's onCommit is called once its transaction has committed, not when a grouped batch settles", async () => {
  const writes = new GroupedWrites(library, { rows: 100, holdMs: HOUR_MS });
  const [a, b] = [tagBatch(), tagBatch()];
  const seen: string[] = [];
  const reads: Promise<void>[] = [];
  // What the library's reads (committed data only) show when each batch is told it is committed.
  const onCommit = (name: string, uuid: string) => () => {
    seen.push(`${name} told at ${writes.committed} commits`);
    reads.push(stored(uuid).then((found) => void seen.push(`${name} read ${found}`)));
  };
  writes.expect();
  writes.expect();
  // a settles written in a transaction that waits for b: told only at that transaction's commit.
  await writes.write(1, a.apply, onCommit('a', a.uuid));
  await writes.write(1, b.apply, onCommit('b', b.uuid));
  await writes.settle();
  await Promise.all(reads);
  expect(seen.sort()).toEqual(['a read true', 'a told at 1 commits', 'b read true', 'b told at 1 commits']);
});

test('batches written in a transaction that waits for the next are not held until the commit (their onCommit is)', async () => {
  // Holding every applied batch until the commit kept a first index's grouped batches alive:
  // +20 MB peak RSS at 200,000 files.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const writes = new GroupedWrites(library, { rows: 100, holdMs: HOUR_MS });
  for (let i = 0; i < 3; i++) writes.expect();
  const committed: string[] = [];
  // Made outside `write`: a closure made there would share its context, which holds the batch.
  const onCommitOf = (name: string) => () => void committed.push(name);
  const write = async (name: string) => {
    const batch = { ...tagBatch(), rows: new Array<string>(1_000).fill(`a row of ${name}`) };
    await writes.write(1, (tx) => batch.apply(tx).then(() => void batch.rows.length), onCommitOf(name));
    return new WeakRef(batch);
  };
  // Each settles at its apply; the transaction stays open, waiting for the third batch.
  const first = await write('first');
  await write('second');
  await new Promise((done) => setImmediate(done));
  gc();
  // Read before the transaction ends, asserted after (a failure must not leave it open an hour).
  const whileOpen = { committed: [...committed], firstHeld: first.deref() !== undefined };
  await write('third');
  await writes.settle();
  expect(whileOpen).toEqual({ committed: [], firstHeld: false });
  expect([committed, writes.committed]).toEqual([['first', 'second', 'third'], 1]);
});

test('with no batch on its way, a transaction commits at once (the lock is not held for the walk)', async () => {
  // A transaction that waited would hold the lock for the hour: the test would time out.
  const writes = new GroupedWrites(library, { rows: 100, holdMs: HOUR_MS });
  const a = tagBatch();
  writes.expect();
  await writes.write(1, a.apply);
  await writes.settle();
  expect(await stored(a.uuid)).toBe(true);
  // A batch expected later and then found empty ends the wait too.
  const b = tagBatch();
  writes.expect();
  writes.expect();
  await writes.write(1, b.apply);
  writes.cancel();
  await writes.settle();
  expect(writes.committed).toBe(2);
});

test('a transaction takes no batch past its rows', async () => {
  const writes = new GroupedWrites(library, { rows: 2, holdMs: HOUR_MS });
  const batches = [tagBatch(), tagBatch(), tagBatch()];
  batches.forEach(() => writes.expect());
  await Promise.all(batches.map((batch) => writes.write(1, batch.apply)));
  await writes.settle();
  expect(writes.committed).toBe(2);
  for (const batch of batches) expect(await stored(batch.uuid)).toBe(true);
});

test('an expected batch late past holdMs: the transaction commits, and another writer writes before the batch', async () => {
  const writes = new GroupedWrites(library, { rows: 100, holdMs: 100 });
  const [a, late, other] = [tagBatch(), tagBatch(), tagBatch()];
  writes.expect();
  writes.expect();
  await writes.write(1, a.apply);
  // Waits for the lock: it is released when the hold ends, with the late batch still to come.
  await library.write(other.apply);
  expect(await stored(a.uuid)).toBe(true);
  expect(await stored(late.uuid)).toBe(false);
  await writes.write(1, late.apply);
  await writes.settle();
  expect(writes.committed).toBe(2);
  expect(await stored(late.uuid)).toBe(true);
});

test('a failed batch rolls back its whole transaction, and the writes after it fail', async () => {
  const writes = new GroupedWrites(library, { rows: 100, holdMs: HOUR_MS });
  const [a, after] = [tagBatch(), tagBatch()];
  writes.expect();
  writes.expect();
  writes.expect();
  await writes.write(1, a.apply);
  await expect(
    writes.write(1, async () => {
      throw new Error('disk full');
    }),
  ).rejects.toThrow('disk full');
  await expect(writes.write(1, after.apply)).rejects.toThrow('disk full');
  await expect(writes.settle()).rejects.toThrow('disk full');
  expect(writes.committed).toBe(0);
  expect([await stored(a.uuid), await stored(after.uuid)]).toEqual([false, false]);
});

test('once another writer has committed since its last commit, a transaction takes one batch; alone again, it groups again', async () => {
  const writes = new GroupedWrites(library, { rows: 100, holdMs: HOUR_MS });
  const other = await Library.open(Library.fileIn(dir));
  try {
    const [a, b, c, d, e, theirs] = [tagBatch(), tagBatch(), tagBatch(), tagBatch(), tagBatch(), tagBatch()];
    writes.expect();
    await writes.write(1, a.apply);
    await writes.settle();
    // A running node's write, through its own connection: not one of this process's commits.
    await other.write(theirs.apply);
    [b, c].forEach(() => writes.expect());
    // Committed alone, though c is on its way; and settled at the commit, as a batch alone is.
    await writes.write(1, b.apply);
    expect(await stored(b.uuid)).toBe(true);
    await writes.write(1, c.apply);
    await writes.settle();
    expect({ committed: writes.committed, contended: writes.contended }).toEqual({
      committed: 3,
      contended: 1,
    });
    [d, e].forEach(() => writes.expect());
    await Promise.all([writes.write(1, d.apply), writes.write(1, e.apply)]);
    await writes.settle();
    expect({ committed: writes.committed, contended: writes.contended }).toEqual({
      committed: 4,
      contended: 1,
    });
    for (const batch of [a, b, c, d, e]) expect(await stored(batch.uuid)).toBe(true);
  } finally {
    writes.close();
    await other.close();
  }
});

test('another writer that commits before the first transaction makes it take one batch', async () => {
  // Not an hour: grouped, the transaction would wait that long for b (5 s is ample against
  // a run that is not grouped, which commits a at once).
  const writes = new GroupedWrites(library, { rows: 100, holdMs: 5_000 });
  const other = await Library.open(Library.fileIn(dir));
  try {
    const [a, b, theirs] = [tagBatch(), tagBatch(), tagBatch()];
    // A running node's write after this run began and before its first commit.
    await other.write(theirs.apply);
    [a, b].forEach(() => writes.expect());
    // Committed alone, though b is on its way: the lock is not held for the walk of b.
    await writes.write(1, a.apply);
    expect(await stored(a.uuid)).toBe(true);
    await writes.write(1, b.apply);
    await writes.settle();
    expect({ committed: writes.committed, contended: writes.contended }).toEqual({
      committed: 2,
      contended: 1,
    });
  } finally {
    writes.close();
    await other.close();
  }
});
