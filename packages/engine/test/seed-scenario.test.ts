/**
 * The seed note's scenario (../../shared/seed): device A indexes volumes, then locations, then
 * 25,000 entries; B backfills with batch size 10,000 and the connection drops right after B
 * applied the first entry batch. On reconnect B must hold every row of A.
 *
 * Every scenario runs twice: with the engine's per-resource watermarks, and with the seed's bug
 * (one global watermark per peer) injected through `cursorFor`. The buggy run is expected to
 * lose exactly the rows the note says it loses, which proves these tests catch the bug.
 *
 * Why two scenarios: Tidemark's client pulls types in dependency order (volume, location, ...
 * entry), so in a plain full backfill every volume and location is applied before the first
 * entry batch and a global cursor would skip only rows B already holds. Locations and volumes
 * go missing when B holds an entry batch newer than locations/volumes it does not hold yet:
 *  1. the seed's own timeline: B's first session applied an entry batch first (there, the request
 *     listed `location, entry, volume` in one stream; here, a session that asks for entries);
 *  2. indexing goes on while B backfills: a volume and a location are added after B passed those
 *     types, and entries committed after them land in B's first entry batch.
 */
import { ResourceType } from '@tidemark/proto';
import { createLibrary, removeTempDirs, TestClock } from './fixtures';
import {
  CursorPolicy,
  globalWatermarkPolicy,
  HookedTransport,
  lostRows,
  PerType,
  TickingClock,
} from './scenario-helpers';
import { digestsOf, syncUntilCut, transportTo } from './sync-helpers';
import { Library } from '../src/library';
import { RESOURCE_NAMES } from '../src/resource-types';
import { writeSyntheticLibrary } from '../src/testing/synthetic';
import { ResourceWatermarkStore } from '../src/watermarks';

const TEN_MINUTES = 10 * 60 * 1000;
const BATCH = 10_000;

interface Policy {
  readonly label: string;
  readonly cursorFor: (client: Library) => CursorPolicy | undefined;
  readonly lostInFullBackfill: PerType;
  readonly lostInSeedTimeline: PerType;
  readonly lostWhileIndexing: PerType;
}

const POLICIES: readonly Policy[] = [
  {
    label: 'per-resource watermarks (the engine)',
    cursorFor: () => undefined,
    lostInFullBackfill: {},
    lostInSeedTimeline: {},
    lostWhileIndexing: {},
  },
  {
    label: 'one global watermark per peer (the seed bug, kept as a control)',
    cursorFor: (client) => globalWatermarkPolicy(client),
    // Dependency order hides the bug in this flow: B holds every volume and location before its
    // first entry batch, so the global cursor skips only rows B already has.
    lostInFullBackfill: {},
    // A's device row (seq 1), its 5 volumes and 100 locations are all older than the entry batch.
    lostInSeedTimeline: { device: 1, volume: 5, location: 100 },
    // The volume and the location added while B was backfilling.
    lostWhileIndexing: { volume: 1, location: 1 },
  },
];

/** A's indexing run at distinct, increasing times: every write its own ms, ten minutes between commits. */
async function indexedLibrary(
  options: { entries: number; clock?: TickingClock } = { entries: 25_000 },
): Promise<{ a: Library; clock: TickingClock }> {
  const clock = options.clock ?? new TickingClock();
  const a = await createLibrary({ clock: { now: clock.now } });
  await writeSyntheticLibrary(a, {
    volumes: 5,
    locations: 100,
    entries: options.entries,
    entriesPerTransaction: BATCH,
    betweenTransactions: () => clock.advance(TEN_MINUTES),
  });
  return { a, clock };
}

/** B's wall clock: later than anything A stamped, so no drift guard gets in the way. */
function clientClock(after: TickingClock): TestClock {
  return new TestClock(after.ms + TEN_MINUTES);
}

/** Cuts the connection just before the 2nd entry batch would be delivered. */
function cutBeforeSecondEntryBatch(): (batch: { resourceType: ResourceType }) => boolean {
  let entryBatches = 0;
  return (batch) => batch.resourceType === ResourceType.RESOURCE_TYPE_ENTRY && ++entryBatches === 2;
}

let seedA: Library;
let seedClock: TickingClock;

beforeAll(async () => {
  ({ a: seedA, clock: seedClock } = await indexedLibrary());
});

afterAll(async () => {
  await seedA.close();
  removeTempDirs();
});

test("A's indexing run has the seed's timeline: volumes, then locations, then entries, each later", async () => {
  const spans = await seedA.db.read.query<{ t: string; first: string; last: string; n: number }>(
    `SELECT 'volume' AS t, min(hlc) AS first, max(hlc) AS last, count(*) AS n FROM volumes
     UNION ALL SELECT 'location', min(hlc), max(hlc), count(*) FROM locations
     UNION ALL SELECT 'entry', min(hlc), max(hlc), count(*) FROM entries`,
  );
  expect(spans.map((span) => [span.t, span.n])).toEqual([
    ['volume', 5],
    ['location', 100],
    ['entry', 25_000],
  ]);
  expect(spans[0].last < spans[1].first && spans[1].last < spans[2].first).toBe(true);
  const [distinct] = await seedA.db.read.query<{ n: number }>('SELECT count(DISTINCT hlc) AS n FROM entries');
  expect(distinct.n).toBe(25_000);
});

/** The claim as a test name, or, for the buggy control, what the control must show. */
function title(claim: string, lost: PerType): string {
  const names = Object.entries(lost).map(([name, n]) => `${n} ${name}`);
  return names.length ? `control: ${claim} FAILS, losing ${names.join(', ')}` : claim;
}

describe.each(POLICIES)('resume with $label', (policy) => {
  test(
    title(
      'full backfill cut after the first entry batch: on reconnect B has every row of A',
      policy.lostInFullBackfill,
    ),
    async () => {
      const a = seedA;
      const b = await createLibrary({
        libraryId: a.identity.libraryId,
        clock: { now: clientClock(seedClock).now },
      });
      try {
        const cursorFor = policy.cursorFor(b);
        const first = await syncUntilCut(b, transportTo(a, { cutBefore: cutBeforeSecondEntryBatch() }), {
          batchSize: BATCH,
          cursorFor,
        });
        expect(first.error).toMatchObject({ code: 'UNAVAILABLE' });
        expect(await b.db.read.query('SELECT uuid FROM entries')).toHaveLength(BATCH);

        const second = await syncUntilCut(b, transportTo(a), { batchSize: BATCH, cursorFor });
        expect(second.error).toBeUndefined();
        expect(await lostRows(a, b)).toEqual(policy.lostInFullBackfill);
        const [da, db] = [await digestsOf(a), await digestsOf(b)];
        for (const name of RESOURCE_NAMES.filter((n) => n !== 'device')) {
          expect(`${name} ${db[name]}`).toBe(`${name} ${da[name]}`);
        }
      } finally {
        await b.close();
      }
    },
  );

  test(
    title(
      'seed timeline: a resumed backfill keeps locations and volumes older than the last entry batch',
      policy.lostInSeedTimeline,
    ),
    async () => {
      const a = seedA;
      const b = await createLibrary({
        libraryId: a.identity.libraryId,
        clock: { now: clientClock(seedClock).now },
      });
      try {
        const cursorFor = policy.cursorFor(b);
        // Session 1: B's first applied batch is an entry batch; the connection drops before the 2nd.
        const first = await syncUntilCut(b, transportTo(a, { cutBefore: cutBeforeSecondEntryBatch() }), {
          types: ['entry'],
          batchSize: BATCH,
          cursorFor,
        });
        expect(first.error).toMatchObject({ code: 'UNAVAILABLE' });
        const entryMark = await new ResourceWatermarkStore(b.db.read).get(a.identity.deviceId, 'entry');
        expect(entryMark?.lastSeq).toBe(1 + 5 + 100 + BATCH);

        // Session 2, on a new connection: every type resumes.
        const second = await syncUntilCut(b, transportTo(a), { batchSize: BATCH, cursorFor });
        expect(second.error).toBeUndefined();

        const lost = await lostRows(a, b);
        expect(lost).toEqual(policy.lostInSeedTimeline);
        if (Object.keys(policy.lostInSeedTimeline).length === 0) {
          const [da, db] = [await digestsOf(a), await digestsOf(b)];
          for (const name of RESOURCE_NAMES.filter((n) => n !== 'device'))
            expect(`${name} ${db[name]}`).toBe(`${name} ${da[name]}`);
        }
      } finally {
        await b.close();
      }
    },
  );

  test(
    title(
      'indexing goes on during the backfill: a resumed backfill keeps the volume and location added mid-sync',
      policy.lostWhileIndexing,
    ),
    async () => {
      const { a, clock } = await indexedLibrary({ entries: 5_000 });
      const b = await createLibrary({
        libraryId: a.identity.libraryId,
        clock: { now: () => clock.ms + TEN_MINUTES },
      });
      try {
        const cursorFor = policy.cursorFor(b);
        let indexedMore = false;
        const transport = new HookedTransport(transportTo(a, { cutBefore: cutBeforeSecondEntryBatch() }), {
          // B is past volumes and locations and about to pull entries: A mounts a volume, adds a
          // location and indexes 20,000 more entries.
          beforeStream: async (request) => {
            if (indexedMore || request.cursors[0].resourceType !== ResourceType.RESOURCE_TYPE_ENTRY) return;
            indexedMore = true;
            clock.advance(TEN_MINUTES);
            await writeSyntheticLibrary(a, {
              volumes: 1,
              locations: 1,
              entries: 20_000,
              seed: 2,
              entriesPerTransaction: BATCH,
              betweenTransactions: () => clock.advance(TEN_MINUTES),
            });
          },
        });
        const first = await syncUntilCut(b, transport, { batchSize: BATCH, cursorFor });
        expect(indexedMore).toBe(true);
        expect(first.error).toMatchObject({ code: 'UNAVAILABLE' });
        expect(await b.db.read.query('SELECT uuid FROM volumes')).toHaveLength(5);

        const second = await syncUntilCut(b, transportTo(a), { batchSize: BATCH, cursorFor });
        expect(second.error).toBeUndefined();
        expect(await lostRows(a, b)).toEqual(policy.lostWhileIndexing);
      } finally {
        await a.close();
        await b.close();
      }
    },
  );
});
