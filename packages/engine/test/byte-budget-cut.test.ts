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
import { createLibrary, removeTempDirs } from './fixtures';
import { fixedUuid } from './scenario-helpers';

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
