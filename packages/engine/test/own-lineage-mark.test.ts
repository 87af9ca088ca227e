/**
 * When an apply marks this database's own lineage unordered (apply.ts, markOwnLineageUnordered;
 * docs/architecture.md, "Own-lineage coverage before caught_up"): exactly when an adopting apply
 * wrote a version of this device's own identity, whatever else the batch held. A database so
 * marked claims nothing of its lineage before caught_up when it serves; one that only took other
 * devices' rows still does.
 */
import { StateBatch } from '@tidemark/proto';
import { lastValueFrom, toArray } from 'rxjs';
import { applyBatch } from '../src/apply';
import { wrapRecord } from '../src/records';
import { resourceTypeOf } from '../src/resource-types';
import { backfillResource$ } from '../src/serve';
import { createLibrary, removeTempDirs, TestClock } from './fixtures';
import { fixedUuid } from './scenario-helpers';

const PEER = fixedUuid(9, 1);
const OTHER = fixedUuid(9, 2);

afterAll(removeTempDirs);

function tagOf(clock: TestClock, origin: string, n: number) {
  return wrapRecord('tag', {
    uuid: fixedUuid(5, n),
    name: `tag ${n}`,
    color: '',
    hlc: { physicalMs: clock.ms, logical: n },
    origin,
  });
}

function batchOf(records: StateBatch['records']): StateBatch {
  return {
    resourceType: resourceTypeOf('tag'),
    records,
    tombstones: [],
    checkpoint: {
      resourceType: resourceTypeOf('tag'),
      epoch: fixedUuid(8, 1),
      seq: records.length,
      hlc: undefined,
      covered: [],
      commitId: '',
    },
    remaining: 0,
    reset: false,
    // Not caught up: nothing of `covered` is taken, only the rows.
    caughtUp: false,
    recordOriginSeqs: [],
    recordOriginEpochs: [],
    originEpochs: [],
    heldSkipped: 0,
  };
}

/** Applies `records` from PEER with `adoptOwnRows`, writes 4 tags of its own, and serves its tags in pages of 2. */
async function servedAfterApplying(ownRowBack: boolean) {
  const clock = new TestClock();
  const library = await createLibrary({ clock: { now: clock.now } });
  const self = library.identity.deviceId;
  const records = [
    tagOf(clock, OTHER, 1),
    ...(ownRowBack ? [tagOf(clock, self, 2)] : [tagOf(clock, OTHER, 2)]),
  ];
  const applied = await applyBatch(library, PEER, batchOf(records), { adoptOwnRows: true });
  expect(applied.written).toBe(2);
  await library.write(async (tx) => {
    for (let n = 10; n < 14; n++) await tx.put('tag', { uuid: fixedUuid(5, n), name: `own ${n}`, color: '' });
  });
  const batches = await lastValueFrom(
    backfillResource$(library, 'tag', { epoch: library.identity.epoch, seq: 0 }, 2).pipe(toArray()),
  );
  await library.close();
  return { self, epoch: library.identity.epoch, batches };
}

test('an adopting apply that writes a version of this device among other devices’ rows: no claim on its lineage before caught_up', async () => {
  const { batches } = await servedAfterApplying(true);
  expect(batches.filter((batch) => !batch.caughtUp).map((batch) => batch.checkpoint!.covered)).toEqual([
    [],
    [],
  ]);
});

test('an adopting apply that writes only other devices’ rows leaves the claims before caught_up as they were', async () => {
  const { self, epoch, batches } = await servedAfterApplying(false);
  // Seqs 1 (this device's row) to 7 are all occupied: each page claims the lineage to its end.
  expect(batches.filter((batch) => !batch.caughtUp).map((batch) => batch.checkpoint!.covered)).toEqual([
    [{ origin: self, epoch, seq: batches[0].checkpoint!.seq }],
    [{ origin: self, epoch, seq: batches[1].checkpoint!.seq }],
  ]);
});
