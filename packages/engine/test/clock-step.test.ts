/**
 * A wall clock that goes backwards (HarperFast/harper#2629 after a restart): A's clock steps back
 * one hour in the middle of an indexing run. No row may be missed on sync, A's HLC must never
 * decrease, and the floor must survive closing and reopening the library under the stepped-back
 * clock.
 */
import { ResourceType } from '@tidemark/proto';
import { createLibrary, removeTempDirs, tempDir, TestClock } from './fixtures';
import { countOf, fixedUuid, lostRows } from './scenario-helpers';
import { syncUntilCut, transportTo } from './sync-helpers';
import { compareHlc, decodeHlc, encodeHlc } from '../src/hlc';
import { Library } from '../src/library';
import { RESOURCE_NAMES } from '../src/resource-types';
import { RESOURCE_TABLES } from '../src/store/resource-tables';
import { writeSyntheticLibrary } from '../src/testing/synthetic';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

afterAll(removeTempDirs);

/** Every stamp the library holds (rows and tombstones of every type), in seq order. */
async function stampsInSeqOrder(library: Library): Promise<{ seq: number; hlc: string }[]> {
  const union = RESOURCE_NAMES.map((name) => `SELECT seq, hlc FROM ${RESOURCE_TABLES[name].table}`).join(
    ' UNION ALL ',
  );
  return library.db.read.query<{ seq: number; hlc: string }>(
    `SELECT seq, hlc FROM (${union} UNION ALL SELECT seq, hlc FROM tombstones) AS every_seq ORDER BY seq`,
  );
}

function expectStrictlyIncreasing(stamps: { seq: number; hlc: string }[]): void {
  const regressions = stamps.filter((s, i) => i > 0 && s.hlc <= stamps[i - 1].hlc).map((s) => s.seq);
  expect(regressions).toEqual([]);
}

test('the wall clock steps back one hour during indexing: no row missed on sync, HLC never decreases, the floor persists', async () => {
  const clockA = new TestClock();
  const file = Library.fileIn(tempDir());
  let a = await Library.create(file, { clock: { now: clockA.now } });
  // B's wall clock keeps true time: it is not the device whose clock went wrong.
  const trueTime = new TestClock(clockA.ms);
  const b = await createLibrary({ libraryId: a.identity.libraryId, clock: { now: trueTime.now } });
  try {
    await writeSyntheticLibrary(a, {
      volumes: 2,
      locations: 5,
      entries: 3_000,
      entriesPerTransaction: 1_000,
      betweenTransactions: () => {
        clockA.advance(MINUTE);
        trueTime.advance(MINUTE);
      },
    });
    const beforeStep = await syncUntilCut(b, transportTo(a), { batchSize: 500 });
    expect(beforeStep.error).toBeUndefined();
    const [{ hlc: maxBeforeStep }] = await a.db.read.query<{ hlc: string }>(
      'SELECT max(hlc) AS hlc FROM entries',
    );

    // The step: A's wall clock is now an hour behind what it stamped a moment ago.
    clockA.advance(-HOUR);
    await writeSyntheticLibrary(a, {
      volumes: 1,
      locations: 2,
      entries: 3_000,
      seed: 7,
      entriesPerTransaction: 1_000,
      betweenTransactions: () => {
        clockA.advance(MINUTE);
        trueTime.advance(MINUTE);
      },
    });
    await a.write((tx) => tx.delete('entry', fixedUuid(9, 1))); // a tombstone stamped after the step too
    const afterStep = await a.db.read.query<{ hlc: string }>('SELECT hlc FROM entries WHERE hlc > ?', [
      maxBeforeStep,
    ]);
    expect(afterStep).toHaveLength(3_000); // every post-step write is stamped above every pre-step one
    expect(decodeHlc(afterStep[0].hlc).physicalMs).toBeGreaterThan(clockA.ms); // ... although the wall says earlier
    expectStrictlyIncreasing(await stampsInSeqOrder(a));

    // B resumes from its watermarks, cut in the middle of the post-step entries and resumed again.
    let entryBatches = 0;
    const cut = await syncUntilCut(
      b,
      transportTo(a, {
        cutBefore: (batch) => batch.resourceType === ResourceType.RESOURCE_TYPE_ENTRY && ++entryBatches === 3,
      }),
      { batchSize: 500 },
    );
    expect(cut.error).toMatchObject({ code: 'UNAVAILABLE' });
    const resumed = await syncUntilCut(b, transportTo(a), { batchSize: 500 });
    expect(resumed.error).toBeUndefined();
    expect(await countOf(b, 'entry')).toBe(6_000);
    expect(await lostRows(a, b)).toEqual({});

    // Restart under the stepped-back clock (set back a further hour): the persisted floor holds.
    const [{ hlc: maxBeforeRestart }] = await a.db.read.query<{ hlc: string }>(
      `SELECT max(hlc) AS hlc FROM (${RESOURCE_NAMES.map((n) => `SELECT max(hlc) AS hlc FROM ${RESOURCE_TABLES[n].table}`).join(' UNION ALL ')})`,
    );
    await a.close();
    clockA.advance(-HOUR);
    a = await Library.open(file, { clock: { now: clockA.now } });
    const tag = fixedUuid(8, 1);
    await a.write((tx) => tx.put('tag', { uuid: tag, name: 'after restart', color: '' }));
    const [{ hlc: restarted }] = await a.db.read.query<{ hlc: string }>(
      'SELECT hlc FROM tags WHERE uuid = ?',
      [tag],
    );
    expect(restarted > maxBeforeRestart).toBe(true);
    expect(compareHlc(decodeHlc(restarted), { physicalMs: clockA.ms, logical: 0 })).toBeGreaterThan(0);
    expect(encodeHlc(a.clock.current) >= restarted).toBe(true);
    expectStrictlyIncreasing(await stampsInSeqOrder(a));
  } finally {
    await a.close();
    await b.close();
  }
});
