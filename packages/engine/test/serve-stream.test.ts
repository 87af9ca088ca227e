/**
 * The batches `backfillResource$` emits for one type, field by field: `remaining` counts down by
 * what each batch carried and is 0 only on the batch that catches the type up (a write between
 * two pages never makes it say 0 early); each checkpoint is the page's last seq and the stamp of
 * the item at that seq; the next page is read only after the transport's backpressure resolved;
 * in follow mode a commit arrives as a batch of its own, and a quiet catch-up sends nothing
 * until then.
 */
import { StateBatch } from '@tidemark/proto';
import { firstValueFrom, lastValueFrom, Observable, take, toArray } from 'rxjs';
import { decodeHlc } from '../src/hlc';
import { Library } from '../src/library';
import { resourceTypeOf } from '../src/resource-types';
import { backfillResource$, BackfillOptions, readPage } from '../src/serve';
import { SqlRunner } from '../src/store/library-database';
import { createLibrary, removeTempDirs, TestClock } from './fixtures';
import { fixedUuid } from './scenario-helpers';

let clock: TestClock;
let library: Library;

beforeEach(async () => {
  clock = new TestClock();
  library = await createLibrary({ clock: { now: clock.now } });
});

afterEach(() => library.close());

afterAll(removeTempDirs);

async function putTags(first: number, count: number, name = 'tag'): Promise<void> {
  clock.advance(1_000);
  await library.write(async (tx) => {
    for (let n = first; n < first + count; n++)
      await tx.put('tag', { uuid: fixedUuid(5, n), name: `${name} ${n}`, color: '' });
  });
}

/** Every tag as stored: seq and hlc, in seq order. */
const storedTags = () =>
  library.db.read.query<{ uuid: string; seq: number; hlc: string }>(
    'SELECT uuid, seq, hlc FROM tags ORDER BY seq',
  );

const served = (batchSize: number, options: BackfillOptions = {}, seq = 0): Observable<StateBatch> =>
  backfillResource$(library, 'tag', { epoch: library.identity.epoch, seq }, batchSize, options);

const shapeOf = (batch: StateBatch) => ({
  items: batch.records.length + batch.tombstones.length,
  remaining: batch.remaining,
  caughtUp: batch.caughtUp,
  reset: batch.reset,
});

test('remaining counts down by what each batch carried; each checkpoint is its last seq and that item’s stamp', async () => {
  await putTags(0, 5);
  await library.write((tx) => tx.delete('tag', fixedUuid(5, 0)));
  const batches = await lastValueFrom(served(2).pipe(toArray()));
  expect(batches.map(shapeOf)).toEqual([
    { items: 2, remaining: 3, caughtUp: false, reset: false },
    { items: 2, remaining: 1, caughtUp: false, reset: false },
    { items: 1, remaining: 0, caughtUp: true, reset: false },
  ]);
  // Tags 1..4, then the tombstone of tag 0 at the highest seq, ending the last page.
  const tags = await storedTags();
  const [tombstone] = await library.db.read.query<{ seq: number; hlc: string }>(
    'SELECT seq, hlc FROM tombstones',
  );
  expect(batches.map((batch) => batch.checkpoint)).toMatchObject([
    {
      resourceType: resourceTypeOf('tag'),
      epoch: library.identity.epoch,
      seq: tags[1].seq,
      hlc: decodeHlc(tags[1].hlc),
    },
    {
      resourceType: resourceTypeOf('tag'),
      epoch: library.identity.epoch,
      seq: tags[3].seq,
      hlc: decodeHlc(tags[3].hlc),
    },
    {
      resourceType: resourceTypeOf('tag'),
      epoch: library.identity.epoch,
      seq: tombstone.seq,
      hlc: decodeHlc(tombstone.hlc),
    },
  ]);
  expect(batches[2].tombstones.map((t) => t.uuid)).toEqual([fixedUuid(5, 0)]);
});

test('a page whose last seq is a tombstone, after a row, takes the tombstone’s stamp', async () => {
  await putTags(0, 2);
  clock.advance(1_000);
  await library.write((tx) => tx.delete('tag', fixedUuid(5, 0)));
  const [batch] = await lastValueFrom(served(10).pipe(toArray()));
  const [tombstone] = await library.db.read.query<{ seq: number; hlc: string }>(
    'SELECT seq, hlc FROM tombstones',
  );
  expect({ records: batch.records.length, tombstones: batch.tombstones.length }).toEqual({
    records: 1,
    tombstones: 1,
  });
  expect(batch.checkpoint).toMatchObject({ seq: tombstone.seq, hlc: decodeHlc(tombstone.hlc) });
});

test('a page whose last seq is a row, after a tombstone, takes the row’s stamp', async () => {
  await putTags(0, 2);
  await library.write((tx) => tx.delete('tag', fixedUuid(5, 0)));
  await putTags(2, 1);
  const [batch] = await lastValueFrom(served(10).pipe(toArray()));
  const tags = await storedTags();
  expect(batch.tombstones).toHaveLength(1);
  expect(batch.checkpoint?.seq).toBe(tags[tags.length - 1].seq);
  expect(batch.checkpoint?.hlc).toEqual(decodeHlc(tags[tags.length - 1].hlc));
});

test('an empty type is one caught-up batch with remaining 0, at the cursor’s seq and without a stamp', async () => {
  await putTags(0, 3);
  const head = await library.headSeq();
  const batches = await lastValueFrom(served(2, {}, head).pipe(toArray()));
  expect(batches.map(shapeOf)).toEqual([{ items: 0, remaining: 0, caughtUp: true, reset: false }]);
  expect(batches[0].checkpoint).toMatchObject({ seq: head, hlc: undefined });
});

test('a type with nothing yet is one caught-up batch at seq 0, without a commit id (no commit issued it)', async () => {
  const batches = await lastValueFrom(served(2).pipe(toArray()));
  expect(batches.map(shapeOf)).toEqual([{ items: 0, remaining: 0, caughtUp: true, reset: false }]);
  expect(batches[0].checkpoint).toMatchObject({ seq: 0, hlc: undefined, commitId: '' });
});

test('the next page is read after the backpressure resolved: rows updated in between are served again, and remaining stays above 0 until caught up', async () => {
  await putTags(0, 4);
  let calls = 0;
  const backpressure = async () => {
    // After the first batch (tags 0 and 1), both are updated: they move behind tags 2 and 3.
    if (++calls === 1) await putTags(0, 2, 'renamed');
  };
  const batches = await lastValueFrom(served(2, { backpressure }).pipe(toArray()));
  expect(calls).toBe(3);
  expect(batches.map(shapeOf)).toEqual([
    { items: 2, remaining: 2, caughtUp: false, reset: false },
    // The count taken at the start is spent, but the type is not caught up: remaining says 1, not 0.
    { items: 2, remaining: 1, caughtUp: false, reset: false },
    { items: 2, remaining: 0, caughtUp: true, reset: false },
  ]);
  const names = batches[2].records.map((record) => (record.kind?.value as { name: string }).name);
  expect(names).toEqual(['renamed 0', 'renamed 1']);
});

test('follow: after catching up, a commit arrives as a batch of its own', async () => {
  await putTags(0, 2);
  const batches = await new Promise<StateBatch[]>((resolve, reject) => {
    const seen: StateBatch[] = [];
    const subscription = served(10, { follow: true }).subscribe({
      next: (batch) => {
        seen.push(batch);
        if (seen.length === 1) putTags(2, 1).catch(reject);
        if (seen.length === 2) {
          subscription.unsubscribe();
          resolve(seen);
        }
      },
      error: reject,
      complete: () => reject(new Error('a follow stream completed')),
    });
  });
  expect(batches.map(shapeOf)).toEqual([
    { items: 2, remaining: 0, caughtUp: true, reset: false },
    { items: 1, remaining: 0, caughtUp: true, reset: false },
  ]);
  expect((batches[1].records[0].kind?.value as { uuid: string }).uuid).toBe(fixedUuid(5, 2));
});

test('follow with a quiet catch-up from the head sends nothing until a commit, then that commit', async () => {
  await putTags(0, 2);
  const head = await library.headSeq();
  // The commit is made once the stream has read its first page, empty (its probe found nothing).
  const read = library.db.read;
  let emptyProbes = 0;
  jest.spyOn(library.db, 'read', 'get').mockReturnValue({
    dialect: read.dialect,
    query: async (text, params) => {
      const rows = await read.query(text, params);
      if (
        text.trimStart().startsWith('WITH firsts') &&
        (rows[0] as { n: number }).n === 0 &&
        ++emptyProbes === 1
      )
        await putTags(2, 1);
      return rows as never;
    },
  });
  const batch = await firstValueFrom(served(10, { follow: true, quietCatchUp: true }, head));
  expect(emptyProbes).toBeGreaterThanOrEqual(1);
  expect(shapeOf(batch)).toEqual({ items: 1, remaining: 0, caughtUp: true, reset: false });
  expect((batch.records[0].kind?.value as { uuid: string }).uuid).toBe(fixedUuid(5, 2));
});

test('follow: a commit the caught-up page already carried wakes the stream, and the empty page after it is not sent', async () => {
  await putTags(0, 2);
  // Tag 2 commits after the stream took its head, just before the first page is read: that page
  // carries it, and its report then wakes the stream to an empty page. Tag 3 commits once that
  // empty page's probe found nothing, so the next batch is tag 3's.
  const read = library.db.read;
  let probes = 0;
  let emptyProbes = 0;
  jest.spyOn(library.db, 'read', 'get').mockReturnValue({
    dialect: read.dialect,
    query: async (text, params) => {
      const probe = text.trimStart().startsWith('WITH firsts');
      if (probe && ++probes === 1) await putTags(2, 1);
      const rows = await read.query(text, params);
      if (probe && (rows[0] as { n: number }).n === 0 && ++emptyProbes === 1) await putTags(3, 1);
      return rows as never;
    },
  });
  const batches = await firstValueFrom(served(10, { follow: true }).pipe(take(2), toArray()));
  expect(emptyProbes).toBe(1);
  expect(batches.map(shapeOf)).toEqual([
    { items: 3, remaining: 0, caughtUp: true, reset: false },
    { items: 1, remaining: 0, caughtUp: true, reset: false },
  ]);
  expect((batches[1].records[0].kind?.value as { uuid: string }).uuid).toBe(fixedUuid(5, 3));
});

test('rows that move on between the page’s probe and its read leave an empty page at the probe’s bound, without a stamp', async () => {
  await putTags(0, 3);
  const head = await library.headSeq();
  let statements = 0;
  // The commit lands right after the probe fixed the page's bound, before the rows are read.
  const sql: SqlRunner = {
    dialect: library.db.dialect,
    query: async (text, params) => {
      const rows = await library.db.read.query(text, params);
      if (++statements === 1) await putTags(0, 3, 'moved');
      return rows as never;
    },
  };
  const page = await readPage(sql, 'tag', 0, 10);
  expect(page).toMatchObject({
    records: [],
    tombstones: [],
    lastSeq: head,
    lastHlc: undefined,
    // Not caught up: the page holds neither the moved versions nor their new ones, so it may not
    // cover any lineage (review: a caught-up page here made the requester claim rows it lacked).
    caughtUp: false,
  });
  // The moved rows are after the bound: the next page has them.
  const next = await readPage(library.db.read, 'tag', page.lastSeq, 10);
  expect(next.records.map((record) => (record.kind?.value as { name: string }).name)).toEqual([
    'moved 0',
    'moved 1',
    'moved 2',
  ]);
});

test.each([
  ['none', undefined],
  ['an empty list', new Map<number, number>()],
])(
  'a request with held prefixes %s has nothing held-skipped, even when the page’s rows move on before its reads end',
  async (_, held) => {
    await putTags(0, 3);
    let statements = 0;
    // The commit lands after the probe, the rows and the tombstones were read.
    const sql: SqlRunner = {
      dialect: library.db.dialect,
      query: async (text, params) => {
        const rows = await library.db.read.query(text, params);
        if (++statements === 3) await putTags(0, 3, 'moved');
        return rows as never;
      },
    };
    const page = await readPage(sql, 'tag', 0, 10, held);
    expect({ records: page.records.length, heldSkipped: page.heldSkipped }).toEqual({
      records: 3,
      heldSkipped: 0,
    });
  },
);

test.each([
  ['the rows it kept move', 3, 3],
  ['every row moves', 6, 0],
])(
  'held-skipped counts the held rows of the page even when %s on before the count',
  async (_, moved, heldSkipped) => {
    await putTags(0, 3);
    await putTags(3, 3);
    const [third] = await library.db.read.query<{ origin_seq: number; origin_lineage: number }>(
      'SELECT origin_seq, origin_lineage FROM tags ORDER BY seq LIMIT 1 OFFSET 2',
    );
    // The first three tags are held by the requester, the last three are not.
    const held = new Map([[Number(third.origin_lineage), Number(third.origin_seq)]]);
    let statements = 0;
    const sql: SqlRunner = {
      dialect: library.db.dialect,
      query: async (text, params) => {
        const rows = await library.db.read.query(text, params);
        // After the probe, the rows and the tombstones: the count sees a later snapshot.
        if (++statements === 3) await putTags(6 - moved, moved, 'moved');
        return rows as never;
      },
    };
    const page = await readPage(sql, 'tag', 0, 10, held);
    expect({ records: page.records.length, heldSkipped: page.heldSkipped }).toEqual({
      records: 3,
      heldSkipped,
    });
  },
);

test('a reset is said on the first batch only', async () => {
  await putTags(0, 5);
  const batches = await lastValueFrom(
    backfillResource$(library, 'tag', { epoch: 'an-old-epoch', seq: 3 }, 2).pipe(toArray()),
  );
  expect(batches.map(shapeOf)).toEqual([
    { items: 2, remaining: 3, caughtUp: false, reset: true },
    { items: 2, remaining: 1, caughtUp: false, reset: false },
    { items: 1, remaining: 0, caughtUp: true, reset: false },
  ]);
});

test.each([
  ['its own epoch', () => library.identity.epoch, false],
  ['an old epoch (reset)', () => 'an-old-epoch', true],
])(
  'follow from %s: a commit to another type does not wake this one (no page is read), once it is caught up',
  async (_, epoch, reset) => {
    await putTags(0, 2);
    // Resolves when the stream has read its next tag page and acted on it (emitted it or not).
    // A page's last read is its probe when that finds nothing, else its tombstones; what follows
    // runs before the next macrotask.
    let pageRead: (() => void) | undefined;
    let pagesRead = 0;
    const read = library.db.read;
    const watched: SqlRunner = {
      dialect: read.dialect,
      query: async (text, params) => {
        const rows = await read.query(text, params);
        const emptyProbe = text.trimStart().startsWith('WITH firsts') && (rows[0] as { n: number }).n === 0;
        if (emptyProbe || /^SELECT uuid, hlc, origin, seq\b[^]*FROM tombstones/.test(text.trimStart())) {
          pagesRead += 1;
          setImmediate(() => pageRead?.());
        }
        return rows as never;
      },
    };
    jest.spyOn(library.db, 'read', 'get').mockReturnValue(watched);
    const nextPageRead = () => new Promise<void>((resolve) => (pageRead = resolve));

    const batches: StateBatch[] = [];
    let failure: unknown;
    // A page with items is emitted after its checkpoint's commit id is read: wait for the batch.
    let batchEmitted: (() => void) | undefined;
    const nextBatch = () => new Promise<void>((resolve) => (batchEmitted = resolve));
    const caughtUp = nextBatch();
    const subscription = backfillResource$(library, 'tag', { epoch: epoch(), seq: 0 }, 10, {
      follow: true,
    }).subscribe({
      next: (batch) => {
        batches.push(batch);
        batchEmitted?.();
      },
      error: (error: unknown) => (failure = error),
    });
    try {
      await caughtUp;
      const before = pagesRead;
      // Wakes only the collection streams (none here): a stream per type must not read a page
      // per commit of every other type.
      await library.write((tx) =>
        tx.put('collection', { uuid: fixedUuid(6, 1), name: 'album', description: '' }),
      );
      const woken = nextPageRead();
      const tagged = nextBatch();
      await putTags(2, 1);
      await tagged;
      await woken;
      // One page: the tag's. Woken by the collection too, it would have read two.
      expect(pagesRead - before).toBe(1);
      expect(failure).toBeUndefined();
      expect(batches.map(shapeOf)).toEqual([
        { items: 2, remaining: 0, caughtUp: true, reset },
        { items: 1, remaining: 0, caughtUp: true, reset: false },
      ]);
    } finally {
      subscription.unsubscribe();
    }
  },
);

test('a stream the consumer leaves mid-backfill reads no further page', async () => {
  await putTags(0, 10);
  const read = library.db.read;
  let reads = 0;
  jest.spyOn(library.db, 'read', 'get').mockReturnValue({
    dialect: read.dialect,
    query: (text, params) => {
      reads += 1;
      return read.query(text, params);
    },
  });
  const first = await new Promise<{ readsThen: number }>((resolve, reject) => {
    const subscription: { unsubscribe(): void } = served(2).subscribe({
      next: () => {
        subscription.unsubscribe();
        resolve({ readsThen: reads });
      },
      error: reject,
    });
  });
  // Statements one after another on the reader: a stream still running after the unsubscribe
  // gets its turns in between and reads its next pages (4 more of them).
  for (let n = 0; n < 50; n++) await read.query('SELECT 1');
  expect(reads).toBe(first.readsThen);
});

test('a stream the consumer leaves while a page is read emits nothing and reads nothing after that page', async () => {
  await putTags(0, 10);
  const read = library.db.read;
  let reads = 0;
  let leave: (() => void) | undefined;
  let pages = 0;
  jest.spyOn(library.db, 'read', 'get').mockReturnValue({
    dialect: read.dialect,
    query: async (text, params) => {
      reads += 1;
      const rows = await read.query(text, params);
      // The second page's tombstones: the last statement of its read.
      if (/FROM tombstones\s+WHERE resource_type = \? AND seq > \? AND seq <= \?/.test(text) && ++pages === 2)
        leave?.();
      return rows as never;
    },
  });
  const batches: StateBatch[] = [];
  const left = new Promise<number>((resolve, reject) => {
    const subscription = served(2).subscribe({ next: (batch) => batches.push(batch), error: reject });
    leave = () => {
      subscription.unsubscribe();
      resolve(reads);
    };
  });
  const readsThen = await left;
  for (let n = 0; n < 50; n++) await read.query('SELECT 1');
  expect({ batches: batches.length, readsAfter: reads - readsThen }).toEqual({ batches: 1, readsAfter: 0 });
});

test('a cursor of this epoch at seq 0 with a commit id is served from 0 without a reset', async () => {
  await putTags(0, 2);
  const [first] = await lastValueFrom(
    backfillResource$(
      library,
      'tag',
      { epoch: library.identity.epoch, seq: 0, commitId: 'f'.repeat(32) },
      10,
    ).pipe(toArray()),
  );
  expect(shapeOf(first)).toEqual({ items: 2, remaining: 0, caughtUp: true, reset: false });
});

test('pages whose items the requester all holds are sent with nothing but held_skipped, and move its cursor', async () => {
  await putTags(0, 6);
  const head = await library.headSeq();
  const held = [{ origin: library.identity.deviceId, epoch: library.identity.epoch, seq: head }];
  const batches = await lastValueFrom(served(2, { held }).pipe(toArray()));
  expect(
    batches.map((batch) => ({
      ...shapeOf(batch),
      heldSkipped: batch.heldSkipped,
      seq: batch.checkpoint!.seq,
    })),
  ).toEqual([
    { items: 0, remaining: 4, caughtUp: false, reset: false, heldSkipped: 2, seq: head - 4 },
    { items: 0, remaining: 2, caughtUp: false, reset: false, heldSkipped: 2, seq: head - 2 },
    { items: 0, remaining: 0, caughtUp: true, reset: false, heldSkipped: 2, seq: head },
  ]);
});

test('held_skipped counts exactly what the filter left out, with rows and tombstones served beside it', async () => {
  await putTags(0, 4);
  const held = [
    { origin: library.identity.deviceId, epoch: library.identity.epoch, seq: await library.headSeq() },
  ];
  await putTags(9, 1, 'new');
  await library.write((tx) => tx.delete('tag', fixedUuid(5, 0)));
  const batches = await lastValueFrom(served(100, { held }).pipe(toArray()));
  expect(batches.map((batch) => [batch.records.length, batch.tombstones.length, batch.heldSkipped])).toEqual([
    [1, 1, 3],
  ]);
});

test('before caught_up, the own-lineage claim starts from what the requester claims of this lineage: a gap below it does not stop it, a claim on another lineage does not raise it', async () => {
  await putTags(0, 6);
  // Tag 0 moves to a new seq: its old seq stays empty, a gap below the requester's claim.
  await putTags(0, 1, 'renamed');
  const claimed = await library.headSeq();
  await putTags(10, 4);
  const { deviceId: origin, epoch } = library.identity;
  const held = [
    { origin, epoch, seq: claimed },
    { origin: fixedUuid(9, 9), epoch: fixedUuid(8, 1), seq: claimed + 1_000 },
  ];
  const batches = await lastValueFrom(served(2, { held }, claimed).pipe(toArray()));
  expect(
    batches.map((batch) => ({
      seq: batch.checkpoint!.seq,
      caughtUp: batch.caughtUp,
      covered: batch.checkpoint!.covered,
    })),
  ).toEqual([
    // The requester holds the lineage up to `claimed` and, with this page, every seq after it.
    { seq: claimed + 2, caughtUp: false, covered: [{ origin, epoch, seq: claimed + 2 }] },
    { seq: claimed + 4, caughtUp: true, covered: [{ origin, epoch, seq: claimed + 4 }] },
  ]);
});

test('before caught_up, a claim the stream sent stands: a version that moves on after its page does not stop the next claims', async () => {
  await putTags(0, 6);
  let moved = false;
  // After the first batch (its page claimed the lineage to its end), tag 0 moves to a new seq.
  const backpressure = async () => {
    if (moved) return;
    moved = true;
    await putTags(0, 1, 'moved');
  };
  const batches = await lastValueFrom(served(2, { backpressure }).pipe(toArray()));
  const { deviceId: origin, epoch } = library.identity;
  expect(
    batches.map((batch) => ({
      seq: batch.checkpoint!.seq,
      caughtUp: batch.caughtUp,
      covered: batch.checkpoint!.covered,
    })),
  ).toEqual([
    { seq: 3, caughtUp: false, covered: [{ origin, epoch, seq: 3 }] },
    // The requester holds tag 0's version at seq 2 from the first batch: seq 2 now empty changes nothing.
    { seq: 5, caughtUp: false, covered: [{ origin, epoch, seq: 5 }] },
    { seq: 7, caughtUp: false, covered: [{ origin, epoch, seq: 7 }] },
    { seq: 8, caughtUp: true, covered: [{ origin, epoch, seq: 8 }] },
  ]);
});

test('a failure while serving errors the stream with that failure', async () => {
  await putTags(0, 2);
  const failure = new Error('the disk went away');
  const read = library.db.read;
  jest.spyOn(library.db, 'read', 'get').mockReturnValue({
    dialect: read.dialect,
    query: async (text, params) => {
      if (text.trimStart().startsWith('WITH firsts')) throw failure;
      return read.query(text, params);
    },
  });
  await expect(lastValueFrom(served(10))).rejects.toBe(failure);
});
