/**
 * Where a page over the byte budget ends (serve.ts, `byteBudgetCut`): at the last seq at which
 * the estimated size of everything up to it, rows and tombstones together in seq order, is still
 * within MAX_BATCH_BYTES. The estimate is the documented over-estimate: 64 bytes per row, 3 per
 * UTF-16 unit of each string, 10 per other value, 256 per tombstone. byte-budget.test.ts shows
 * that the pages fit a message and lose nothing; this pins the cut itself, with tombstones
 * between the rows.
 */
import { EntryKind } from '@tidemark/proto';
import { Library } from '../src/library';
import { MAX_BATCH_BYTES, MAX_BATCH_SIZE, readPage } from '../src/serve';
import { columnsOf, RESOURCE_TABLES, StoredValues } from '../src/store/resource-tables';
import { MAX_TEXT_BYTES } from '../src/validate';
import { createLibrary, createMembers, removeTempDirs } from './fixtures';
import { countOf, fixedUuid, hasRow, hasTombstone, tombstoneCountOf } from './scenario-helpers';
import { syncOnce } from './sync-helpers';

const ROWS = 2_000;

let library: Library;

beforeAll(async () => {
  library = await createLibrary();
  await library.write(async (tx) => {
    for (let index = 0; index < ROWS; index++) {
      const name = `/file-${index}`;
      await tx.put('entry', {
        uuid: fixedUuid(1, index),
        deviceUuid: library.identity.deviceId,
        locationUuid: fixedUuid(2, 1),
        parentUuid: '',
        relativePath: 'd'.repeat(MAX_TEXT_BYTES - name.length) + name,
        kind: EntryKind.ENTRY_KIND_FILE,
        sizeBytes: index,
        modifiedAtMs: 1_700_000_000_000,
        contentUuid: '',
      });
      // Every 4th row deletes an earlier one: its tombstone's seq sits between two rows.
      if (index % 4 === 3) await tx.delete('entry', fixedUuid(1, index - 2));
    }
  });
});

afterAll(async () => {
  await library.close();
  removeTempDirs();
});

const estimatedBytes = (row: StoredValues) =>
  row.reduce<number>((bytes, value) => bytes + (typeof value === 'string' ? value.length * 3 : 10), 64);

test('a page over the byte budget ends at the last seq where rows and tombstones so far, in seq order, fit it', async () => {
  const columns = columnsOf(RESOURCE_TABLES.entry);
  const rows = await library.db.read.query<{ [column: string]: string | number | null }>(
    `SELECT ${columns.join(', ')} FROM entries ORDER BY seq`,
  );
  const tombstones = await library.db.read.query<{ seq: number }>(
    "SELECT seq FROM tombstones WHERE resource_type = 'entry' ORDER BY seq",
  );
  const items = [
    ...rows.map((row) => ({
      seq: Number(row.seq),
      bytes: estimatedBytes(columns.map((column) => row[column])),
    })),
    ...tombstones.map((row) => ({ seq: Number(row.seq), bytes: 256 })),
  ].sort((x, y) => x.seq - y.seq);
  // Premise: tombstones lie between rows, and the whole type is over the budget.
  expect(tombstones.length).toBeGreaterThan(300);
  expect(items.reduce((sum, item) => sum + item.bytes, 0)).toBeGreaterThan(MAX_BATCH_BYTES);

  let used = 0;
  const fits = items.filter((item) => (used += item.bytes) <= MAX_BATCH_BYTES);
  const cut = fits[fits.length - 1].seq;

  const page = await readPage(library.db.read, 'entry', 0, MAX_BATCH_SIZE);
  expect({ lastSeq: page.lastSeq, caughtUp: page.caughtUp }).toEqual({ lastSeq: cut, caughtUp: false });
  expect(page.records.length + page.tombstones.length).toBe(fits.length);
  expect(page.tombstones.length).toBe(fits.filter((item) => item.bytes === 256).length);

  // A page whose rows alone would fit, but not with its tombstones: cut at the same seq.
  let rowBytes = 0;
  const rowsFit = items.filter(
    (item) => (rowBytes += item.bytes === 256 ? 0 : item.bytes) <= MAX_BATCH_BYTES,
  );
  expect(rowsFit.length).toBeGreaterThan(fits.length);
  const short = await readPage(library.db.read, 'entry', 0, rowsFit.length);
  expect({ lastSeq: short.lastSeq, caughtUp: short.caughtUp }).toEqual({ lastSeq: cut, caughtUp: false });
});

test('a page over the byte budget cut exactly at a tombstone serves that tombstone, and paging serves every one', async () => {
  // Each kept row is followed by a tombstone (a junk row put and deleted), so the item before
  // the row that overflows the budget is a tombstone: the cut lands on it.
  const alternating = await createLibrary();
  try {
    await alternating.write(async (tx) => {
      for (let index = 0; index < 1_500; index++) {
        const name = `/file-${index}`;
        const entry = (uuid: string, relativePath: string) =>
          tx.put('entry', {
            uuid,
            deviceUuid: alternating.identity.deviceId,
            locationUuid: fixedUuid(2, 1),
            parentUuid: '',
            relativePath,
            kind: EntryKind.ENTRY_KIND_FILE,
            sizeBytes: index,
            modifiedAtMs: 1_700_000_000_000,
            contentUuid: '',
          });
        await entry(fixedUuid(3, index), 'd'.repeat(MAX_TEXT_BYTES - name.length) + name);
        await entry(fixedUuid(4, index), `/junk-${index}`);
        await tx.delete('entry', fixedUuid(4, index));
      }
    });
    const tombstoneSeqs = new Set(
      (
        await alternating.db.read.query<{ seq: number }>(
          "SELECT seq FROM tombstones WHERE resource_type = 'entry'",
        )
      ).map((row) => Number(row.seq)),
    );
    const first = await readPage(alternating.db.read, 'entry', 0, MAX_BATCH_SIZE);
    // Premise: the page was cut by the budget, at a tombstone's seq.
    expect(first.caughtUp).toBe(false);
    expect(tombstoneSeqs.has(first.lastSeq)).toBe(true);
    expect(first.tombstones.length).toBeGreaterThan(0);

    const served = new Set<string>();
    let after = 0;
    for (;;) {
      const page = await readPage(alternating.db.read, 'entry', after, MAX_BATCH_SIZE);
      for (const tombstone of page.tombstones) served.add(tombstone.uuid);
      after = page.lastSeq;
      if (page.caughtUp) break;
    }
    expect(served.size).toBe(1_500);
  } finally {
    await alternating.close();
  }
});

/** An entry of `library`'s own device; only the path's length changes its estimated size. */
function entryOf(library: Library, uuid: string, relativePath: string, sizeBytes = 0) {
  return {
    uuid,
    deviceUuid: library.identity.deviceId,
    locationUuid: fixedUuid(2, 1),
    parentUuid: '',
    relativePath,
    kind: EntryKind.ENTRY_KIND_FILE,
    sizeBytes,
    modifiedAtMs: 1_700_000_000_000,
    contentUuid: '',
  };
}

/** A path of exactly `length` UTF-16 units (ASCII: as many bytes), unique by `index`. */
const pathOf = (index: number, length: number) => {
  const name = `/file-${index}`;
  return 'd'.repeat(length - name.length) + name;
};

interface Item {
  readonly seq: number;
  readonly uuid: string;
  readonly tombstone: boolean;
  readonly bytes: number;
}

/** The entries and entry tombstones of `library` above `afterSeq`, in seq order, with the documented estimate. */
async function itemsAfter(library: Library, afterSeq: number): Promise<Item[]> {
  const columns = columnsOf(RESOURCE_TABLES.entry);
  const rows = await library.db.read.query<{ [column: string]: string | number | null }>(
    `SELECT ${columns.join(', ')} FROM entries WHERE seq > ? ORDER BY seq`,
    [afterSeq],
  );
  const tombstones = await library.db.read.query<{ seq: number; uuid: string }>(
    "SELECT seq, uuid FROM tombstones WHERE resource_type = 'entry' AND seq > ? ORDER BY seq",
    [afterSeq],
  );
  return [
    ...rows.map((row) => ({
      seq: Number(row.seq),
      uuid: String(row.uuid),
      tombstone: false,
      bytes: estimatedBytes(columns.map((column) => row[column])),
    })),
    ...tombstones.map((row) => ({ seq: Number(row.seq), uuid: row.uuid, tombstone: true, bytes: 256 })),
  ].sort((x, y) => x.seq - y.seq);
}

/** The items of a page from `items`' start that fit the budget, by the documented estimate. */
function fitting(items: readonly Item[]): Item[] {
  let used = 0;
  return items.filter((item) => (used += item.bytes) <= MAX_BATCH_BYTES);
}

test('a delete whose tombstone is the last item that fits the byte budget reaches a follower that held the row', async () => {
  const COUNT = 1_500;
  const [server, follower] = await createMembers(2);
  try {
    await server.write(async (tx) => {
      for (let index = 0; index < COUNT; index++) {
        await tx.put('entry', entryOf(server, fixedUuid(5, index), `/old-${index}`, index));
      }
    });
    await syncOnce(follower, server);
    expect(await countOf(follower, 'entry')).toBe(COUNT);
    const after = await server.headSeq();

    // Each row of maximum size is followed by the delete of a row the follower holds: the item
    // before the row that overflows the budget is a tombstone, and the page is cut at it.
    await server.write(async (tx) => {
      for (let index = 0; index < COUNT; index++) {
        await tx.put('entry', entryOf(server, fixedUuid(6, index), pathOf(index, MAX_TEXT_BYTES), index));
        await tx.delete('entry', fixedUuid(5, index));
      }
    });
    const items = await itemsAfter(server, after);
    const fits = fitting(items);
    const cut = fits[fits.length - 1];
    // Premise: one page by count, cut by the budget, at a tombstone.
    expect(items.length).toBeLessThanOrEqual(MAX_BATCH_SIZE);
    expect(fits.length).toBeLessThan(items.length);
    expect(cut.tombstone).toBe(true);

    const page = await readPage(server.db.read, 'entry', after, MAX_BATCH_SIZE);
    expect({ lastSeq: page.lastSeq, caughtUp: page.caughtUp }).toEqual({ lastSeq: cut.seq, caughtUp: false });
    expect(page.tombstones.map((tombstone) => tombstone.uuid)).toContain(cut.uuid);
    expect(page.records.length + page.tombstones.length).toBe(fits.length);

    // End to end, with pages as large as a request may ask: the follower ends without the row.
    await syncOnce(follower, server, { batchSize: MAX_BATCH_SIZE });
    expect(await hasRow(follower, 'entry', cut.uuid)).toBe(false);
    expect(await hasTombstone(follower, 'entry', cut.uuid)).toBe(true);
    expect(await countOf(follower, 'entry')).toBe(COUNT);
    expect(await tombstoneCountOf(follower, 'entry')).toBe(COUNT);
  } finally {
    await follower.close();
    await server.close();
  }
});

test('a prefix whose estimate is exactly MAX_BATCH_BYTES fits: the page ends at its last item', async () => {
  const exact = await createLibrary();
  try {
    // Every entry here differs from the others only in its path's length (uuids and stamps are
    // fixed-length), so one stored row gives the estimate of an entry without its path.
    await exact.write((tx) => tx.put('entry', entryOf(exact, fixedUuid(7, 0), '/sample')));
    const [sample] = await itemsAfter(exact, 0);
    const perRow = sample.bytes - 3 * '/sample'.length;
    const largest = perRow + 3 * MAX_TEXT_BYTES;
    // `rows` entries and `deletes` tombstones (256 bytes each, 1 modulo 3) after the sample, with
    // path lengths that make the whole prefix exactly the budget.
    const left = MAX_BATCH_BYTES - sample.bytes;
    const rows = Math.ceil(left / largest);
    let deletes = 0;
    while ((left - rows * perRow - 256 * deletes) % 3 !== 0) deletes++;
    const units = (left - rows * perRow - 256 * deletes) / 3;
    const lengths = Array.from(
      { length: rows },
      (_, index) => Math.floor(units / rows) + (index < units % rows ? 1 : 0),
    );
    expect(Math.max(...lengths)).toBeLessThanOrEqual(MAX_TEXT_BYTES);
    await exact.write(async (tx) => {
      for (let index = 0; index < deletes; index++) {
        await tx.put('entry', entryOf(exact, fixedUuid(8, index), `/junk-${index}`));
        await tx.delete('entry', fixedUuid(8, index));
      }
      for (const [index, length] of lengths.entries()) {
        await tx.put('entry', entryOf(exact, fixedUuid(9, index), pathOf(index, length)));
      }
      // One more row, so the page is over the budget and cut.
      await tx.put('entry', entryOf(exact, fixedUuid(9, rows), pathOf(rows, MAX_TEXT_BYTES)));
    });
    const items = await itemsAfter(exact, 0);
    const prefix = items.slice(0, -1);
    // Premise: everything but the last row is exactly the budget, by the documented estimate.
    expect(prefix.reduce((sum, item) => sum + item.bytes, 0)).toBe(MAX_BATCH_BYTES);
    expect(items.length).toBeLessThanOrEqual(MAX_BATCH_SIZE);

    const page = await readPage(exact.db.read, 'entry', 0, MAX_BATCH_SIZE);
    expect({ lastSeq: page.lastSeq, caughtUp: page.caughtUp }).toEqual({
      lastSeq: prefix[prefix.length - 1].seq,
      caughtUp: false,
    });
    expect({ records: page.records.length, tombstones: page.tombstones.length }).toEqual({
      records: rows + 1,
      tombstones: deletes,
    });
  } finally {
    await exact.close();
  }
});
