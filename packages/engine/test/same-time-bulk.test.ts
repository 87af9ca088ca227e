/**
 * Ties at a batch boundary (avni-client#2099: 553,837 rows with one timestamp): 20,000 entries
 * committed in ONE transaction while the wall clock stands still, synced in batches of 3,000.
 * A timestamp cursor would skip or repeat rows at every boundary; the seq cursor must not.
 */
import { ResourceType } from '@tidemark/proto';
import { createMembers, removeTempDirs, TestClock } from './fixtures';
import { countOf, lostRows, peerDigests } from './scenario-helpers';
import { syncUntilCut, transportTo } from './sync-helpers';
import { Library } from '../src/library';
import { RESOURCE_NAMES } from '../src/resource-types';
import { RESOURCE_TABLES } from '../src/store/resource-tables';
import { writeSyntheticLibrary } from '../src/testing/synthetic';

const ENTRIES = 20_000;
const BATCH = 3_000;

let a: Library;
let clock: TestClock;

beforeAll(async () => {
  clock = new TestClock(); // frozen: never advanced in this file
  [a] = await createMembers(1, { clock: { now: clock.now } });
  await writeSyntheticLibrary(a, {
    volumes: 2,
    locations: 4,
    entries: ENTRIES,
    entriesPerTransaction: ENTRIES,
  });
});

afterAll(async () => {
  await a.close();
  removeTempDirs();
});

async function newClient(): Promise<Library> {
  const [b] = await createMembers(1, { libraryId: a.identity.libraryId, clock: { now: clock.now } });
  return b;
}

/** Every seq B holds, rows and tombstones of every type together, must be distinct. */
async function expectDistinctSeqs(library: Library): Promise<void> {
  const union = RESOURCE_NAMES.map((name) => `SELECT seq FROM ${RESOURCE_TABLES[name].table}`).join(
    ' UNION ALL ',
  );
  const [row] = await library.db.read.query<{ n: number; distinct_n: number }>(
    `SELECT count(*) AS n, count(DISTINCT seq) AS distinct_n FROM (${union} UNION ALL SELECT seq FROM tombstones) AS every_seq`,
  );
  expect(row.distinct_n).toBe(row.n);
}

async function expectSameEntries(b: Library): Promise<void> {
  expect(await countOf(b, 'entry')).toBe(ENTRIES);
  expect(await lostRows(a, b)).toEqual({});
  const [pa, pb] = [await peerDigests(a), await peerDigests(b)];
  for (const name of RESOURCE_NAMES.filter((n) => n !== 'device'))
    expect(`${name} ${pb[name]}`).toBe(`${name} ${pa[name]}`);
  await expectDistinctSeqs(b);
}

test('premise: the 20,000 entries share one wall-clock millisecond and one commit', async () => {
  const [row] = await a.db.read.query<{ ms: number; n: number }>(
    'SELECT count(DISTINCT substr(hlc, 1, 12)) AS ms, count(*) AS n FROM entries',
  );
  expect(row).toEqual({ ms: 1, n: ENTRIES });
});

test('20,000 same-millisecond entries sync in batches of 3,000: none lost, none duplicated', async () => {
  const b = await newClient();
  try {
    const transport = transportTo(a);
    const run = await syncUntilCut(b, transport, { batchSize: BATCH });
    expect(run.error).toBeUndefined();
    const entryBatches = run.events.filter((e) => e.kind === 'batch' && e.resourceType === 'entry');
    expect(entryBatches).toHaveLength(Math.ceil(ENTRIES / BATCH));
    const received = entryBatches.reduce((sum, e) => sum + (e.kind === 'batch' ? e.received : 0), 0);
    expect(received).toBe(ENTRIES); // each entry sent exactly once
    await expectSameEntries(b);
  } finally {
    await b.close();
  }
});

test('cut at every 3,000-row boundary and resumed: none lost, none duplicated', async () => {
  const b = await newClient();
  try {
    let sessions = 0;
    let received = 0;
    for (;;) {
      sessions += 1;
      expect(sessions).toBeLessThanOrEqual(Math.ceil(ENTRIES / BATCH) + 1);
      // Each session applies one entry batch and is cut before the next one.
      let entryBatches = 0;
      const run = await syncUntilCut(
        b,
        transportTo(a, {
          cutBefore: (batch) =>
            batch.resourceType === ResourceType.RESOURCE_TYPE_ENTRY && ++entryBatches === 2,
        }),
        { batchSize: BATCH },
      );
      for (const e of run.events)
        if (e.kind === 'batch' && e.resourceType === 'entry') received += e.received;
      if (!run.error) break;
      expect(run.error).toMatchObject({ code: 'UNAVAILABLE' });
    }
    expect(sessions).toBe(Math.ceil(ENTRIES / BATCH));
    expect(received).toBe(ENTRIES);
    await expectSameEntries(b);
  } finally {
    await b.close();
  }
});
