/**
 * A batch with one malformed record is rejected whole: nothing of it is stored, the watermark
 * stays, the clock adopts nothing, and (in a sync) only that type fails while the others go on.
 */
import { Hlc, ResourceType, StateBatch } from '@tidemark/proto';
import { lastValueFrom, toArray } from 'rxjs';
import { createLibrary, removeTempDirs, TestClock } from '../test/fixtures';
import { fixedUuid, HookedTransport, lostRows, versionsOf } from '../test/scenario-helpers';
import { digestsOf, syncUntilCut, transportTo } from '../test/sync-helpers';
import { applyBatch } from './apply';
import { MalformedBatchError } from './errors';
import { encodeHlc } from './hlc';
import { Library } from './library';
import { ResourceName, resourceTypeOf } from './resource-types';
import { LibrarySyncService } from './sync-service';
import { writeSyntheticLibrary } from './testing/synthetic';
import { ResourceWatermarkStore } from './watermarks';

let a: Library;
let b: Library;
let clock: TestClock;

beforeEach(async () => {
  clock = new TestClock();
  a = await createLibrary({ clock: { now: clock.now } });
  b = await createLibrary({ libraryId: a.identity.libraryId, clock: { now: clock.now } });
  let commits = 0;
  await writeSyntheticLibrary(a, {
    volumes: 2,
    locations: 3,
    entries: 120,
    entriesPerTransaction: 60,
    // After the first 60 entries, 5 of them are deleted: their tombstones sit between two runs
    // of rows, so the 2nd entry batch of 50 carries rows and tombstones.
    betweenTransactions: async () => {
      if (++commits !== 3) return;
      await a.write(async (tx) => {
        const doomed = await tx.sql.query<{ uuid: string }>('SELECT uuid FROM entries ORDER BY seq LIMIT 5');
        for (const { uuid } of doomed) await tx.delete('entry', uuid);
      });
    },
  });
  await a.write(async (tx) => {
    await tx.put('tag', { uuid: fixedUuid(5, 1), name: 'keep', color: '' });
    await tx.put('collection', { uuid: fixedUuid(6, 1), name: 'album', description: '' });
  });
});

afterEach(async () => {
  await b.close();
  await a.close();
});

afterAll(removeTempDirs);

/** Real batches of one type as A serves them to B. */
async function servedBatches(name: ResourceName, batchSize: number): Promise<StateBatch[]> {
  const service = new LibrarySyncService(a);
  const batches = await lastValueFrom(
    service
      .streamState({
        libraryId: a.identity.libraryId,
        deviceId: b.identity.deviceId,
        cursors: [{ resourceType: resourceTypeOf(name), epoch: '', seq: 0, commitId: '', held: [] }],
        batchSize,
        follow: false,
      })
      .pipe(toArray()),
  );
  // Through the wire format, like every real batch.
  return batches.map((batch) => StateBatch.decode(StateBatch.encode(batch).finish()));
}

function copyOf(batch: StateBatch): StateBatch {
  return StateBatch.decode(StateBatch.encode(batch).finish());
}

/** The `index`th record's message, to mutate in place. */
function recordAt(batch: StateBatch, index: number): { [field: string]: unknown } {
  const kind = batch.records[index].kind;
  if (!kind) throw new Error('record without kind');
  return kind.value as unknown as { [field: string]: unknown };
}

const RECORD = 17; // in the middle: the records before it are valid and new to B

const MUTATIONS: readonly {
  readonly label: string;
  readonly error: unknown;
  readonly mutate: (batch: StateBatch) => void;
}[] = [
  {
    label: 'a bad uuid',
    error: MalformedBatchError,
    mutate: (batch) => void (recordAt(batch, RECORD).uuid = 'not-a-uuid'),
  },
  {
    label: 'an upper-case uuid',
    error: MalformedBatchError,
    mutate: (batch) =>
      void (recordAt(batch, RECORD).uuid = String(recordAt(batch, RECORD).uuid).toUpperCase()),
  },
  {
    label: 'a device-owned row whose origin is not its owner',
    error: MalformedBatchError,
    mutate: (batch) => void (recordAt(batch, RECORD).origin = fixedUuid(9, 9)),
  },
  {
    label: 'a missing hlc',
    error: MalformedBatchError,
    mutate: (batch) => void (recordAt(batch, RECORD).hlc = undefined),
  },
  {
    label: 'a record of the wrong $case',
    error: MalformedBatchError,
    mutate: (batch) => {
      const entry = recordAt(batch, RECORD);
      batch.records[RECORD] = {
        kind: {
          $case: 'tag',
          value: {
            uuid: String(entry.uuid),
            name: 'x',
            color: '',
            hlc: entry.hlc as Hlc | undefined,
            origin: String(entry.origin),
          },
        },
      };
    },
  },
  {
    label: 'an entry kind out of range',
    error: MalformedBatchError,
    mutate: (batch) => void (recordAt(batch, RECORD).kind = 0),
  },
  {
    label: 'a tombstone with a bad uuid',
    error: MalformedBatchError,
    mutate: (batch) => void batch.tombstones.push({ ...batch.tombstones[0], uuid: 'nope' }),
  },
];

describe('applyBatch rejects a batch with one malformed record whole, and the watermark stays', () => {
  test.each(MUTATIONS)('$label', async ({ error, mutate }) => {
    const [firstBatch, secondBatch] = await servedBatches('entry', 50);
    expect(secondBatch.records.length).toBeGreaterThan(RECORD);
    expect(secondBatch.tombstones.length).toBeGreaterThan(0);
    await applyBatch(b, a.identity.deviceId, firstBatch);
    const watermarks = new ResourceWatermarkStore(b.db.read);
    const markBefore = await watermarks.get(a.identity.deviceId, 'entry');
    expect(markBefore?.lastSeq).toBe(firstBatch.checkpoint?.seq);
    const entriesBefore = await versionsOf(b, 'entry');
    const [{ hlc_floor: floorBefore, last_seq: headBefore }] = await b.db.read.query<{
      hlc_floor: string;
      last_seq: number;
    }>('SELECT hlc_floor, last_seq FROM library_identity');
    const clockBefore = encodeHlc(b.clock.current);

    const bad = copyOf(secondBatch);
    mutate(bad);
    await expect(applyBatch(b, a.identity.deviceId, bad)).rejects.toBeInstanceOf(error);
    expect(await versionsOf(b, 'entry')).toEqual(entriesBefore);
    expect(await watermarks.get(a.identity.deviceId, 'entry')).toEqual(markBefore);
    expect(await b.db.read.query('SELECT hlc_floor, last_seq FROM library_identity')).toEqual([
      { hlc_floor: floorBefore, last_seq: headBefore },
    ]);
    expect(encodeHlc(b.clock.current)).toBe(clockBefore); // nothing adopted, not even the valid records' stamps

    // The same batch, uncorrupted, applies and moves the watermark: nothing was poisoned.
    const result = await applyBatch(b, a.identity.deviceId, secondBatch);
    expect(result.written).toBe(secondBatch.records.length + secondBatch.tombstones.length);
    expect((await watermarks.get(a.identity.deviceId, 'entry'))?.lastSeq).toBe(secondBatch.checkpoint?.seq);
  });

  test('a batch whose checkpoint is missing or of another type is rejected whole', async () => {
    const [batch] = await servedBatches('volume', 50);
    const noCheckpoint = { ...copyOf(batch), checkpoint: undefined };
    const otherType = copyOf(batch);
    otherType.checkpoint = { ...otherType.checkpoint!, resourceType: ResourceType.RESOURCE_TYPE_TAG };
    for (const bad of [noCheckpoint, otherType]) {
      await expect(applyBatch(b, a.identity.deviceId, bad)).rejects.toBeInstanceOf(MalformedBatchError);
    }
    expect(await versionsOf(b, 'volume')).toEqual(new Set());
    expect(await new ResourceWatermarkStore(b.db.read).get(a.identity.deviceId, 'volume')).toBeUndefined();
  });
});

describe('in a sync, a malformed batch fails its type only', () => {
  test("a corrupt entry batch emits 'type_failed' for entry, keeps the entry watermark, and every other type syncs", async () => {
    let entryBatches = 0;
    const transport = new HookedTransport(transportTo(a), {
      mapBatch: (batch) => {
        if (batch.resourceType !== ResourceType.RESOURCE_TYPE_ENTRY || ++entryBatches !== 2) return batch;
        const bad = copyOf(batch);
        recordAt(bad, 3).origin = fixedUuid(9, 9);
        return bad;
      },
    });
    const run = await syncUntilCut(b, transport, { batchSize: 50 });
    expect(run.error).toBeUndefined();
    const failed = run.events.filter((e) => e.kind === 'type_failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      kind: 'type_failed',
      resourceType: 'entry',
      error: { code: 'MALFORMED_BATCH' },
    });
    expect(run.events[run.events.length - 1]).toEqual({ kind: 'backfilled', failed: ['entry'] });

    // Entry holds exactly its first batch; its watermark is that batch's checkpoint.
    const firstEntryBatch = run.events.find((e) => e.kind === 'batch' && e.resourceType === 'entry');
    expect(firstEntryBatch).toMatchObject({ batches: 1, received: 50 });
    const mark = await new ResourceWatermarkStore(b.db.read).get(a.identity.deviceId, 'entry');
    expect(mark?.lastSeq).toBe(firstEntryBatch?.kind === 'batch' ? firstEntryBatch.watermarkSeq : -1);
    expect((await versionsOf(b, 'entry')).size).toBe(50);

    // Types before and after entry went on.
    const [da, db] = [await digestsOf(a), await digestsOf(b)];
    for (const name of [
      'volume',
      'location',
      'content_identity',
      'tag',
      'collection',
      'tag_assignment',
    ] as const) {
      expect(`${name} ${db[name]}`).toBe(`${name} ${da[name]}`);
    }
    expect(Object.keys(await lostRows(a, b))).toEqual(['entry']);

    // The next (clean) sync resumes entry from its watermark and completes it.
    const retry = await syncUntilCut(b, transportTo(a), { batchSize: 50 });
    expect(retry.error).toBeUndefined();
    expect(await lostRows(a, b)).toEqual({});
  });
});

test('a caught-up batch built in process without `covered` applies as if it covered nothing (the decoder always sets it)', async () => {
  const [batch] = await servedBatches('tag', 1_000);
  expect(batch.caughtUp).toBe(true);
  const checkpoint: Partial<NonNullable<StateBatch['checkpoint']>> = { ...batch.checkpoint! };
  delete checkpoint.covered;
  const result = await applyBatch(b, a.identity.deviceId, { ...batch, checkpoint: checkpoint as never });
  expect({ written: result.written, prefixesRaised: result.prefixesRaised }).toEqual({
    written: 1,
    prefixesRaised: 0,
  });
  expect((await new ResourceWatermarkStore(b.db.read).get(a.identity.deviceId, 'tag'))?.lastSeq).toBe(
    batch.checkpoint!.seq,
  );
});
