/**
 * How applyBatch counts stamps from the future: an item is beyond the drift when it is MORE than
 * the max drift ahead of this device's wall clock (exactly the max drift is not), and maxAheadMs
 * is the furthest of those, whatever their order in the batch. They are applied all the same.
 */
import { StateBatch } from '@tidemark/proto';
import { applyBatch } from '../src/apply';
import { DEFAULT_MAX_DRIFT_MS } from '../src/hlc';
import { Library } from '../src/library';
import { wrapRecord } from '../src/records';
import { resourceTypeOf } from '../src/resource-types';
import { createLibrary, removeTempDirs, TestClock } from './fixtures';
import { fixedUuid } from './scenario-helpers';

let clock: TestClock;
let a: Library;
let b: Library;

beforeAll(async () => {
  clock = new TestClock();
  a = await createLibrary({ clock: { now: clock.now } });
  b = await createLibrary({ libraryId: a.identity.libraryId, clock: { now: clock.now } });
});

afterAll(async () => {
  await b.close();
  await a.close();
  removeTempDirs();
});

function tagsAhead(aheadMs: readonly number[]): StateBatch {
  return {
    resourceType: resourceTypeOf('tag'),
    records: aheadMs.map((ahead, n) =>
      wrapRecord('tag', {
        uuid: fixedUuid(5, n),
        name: `tag ${n}`,
        color: '',
        hlc: { physicalMs: clock.ms + ahead, logical: 0 },
        origin: a.identity.deviceId,
      }),
    ),
    tombstones: [
      {
        resourceType: resourceTypeOf('tag'),
        uuid: fixedUuid(5, 99),
        hlc: { physicalMs: clock.ms + DEFAULT_MAX_DRIFT_MS + 3, logical: 0 },
        origin: a.identity.deviceId,
        originSeq: 0,
        originEpoch: '',
      },
    ],
    checkpoint: {
      resourceType: resourceTypeOf('tag'),
      epoch: a.identity.epoch,
      seq: 10,
      hlc: undefined,
      covered: [],
      commitId: '',
    },
    remaining: 0,
    reset: false,
    caughtUp: true,
    recordOriginSeqs: [],
    recordOriginEpochs: [],
    originEpochs: [],
    heldSkipped: 0,
  };
}

test('exactly the max drift ahead is within it; each item further ahead counts, tombstones too', async () => {
  const max = DEFAULT_MAX_DRIFT_MS;
  const result = await applyBatch(b, a.identity.deviceId, tagsAhead([0, max, max + 7, max + 1, -1000]));
  expect(result).toMatchObject({ received: 6, written: 6, beyondDrift: 3, maxAheadMs: max + 7 });
});

test('a batch within the drift counts nothing', async () => {
  clock.advance(DEFAULT_MAX_DRIFT_MS * 10);
  const result = await applyBatch(b, a.identity.deviceId, {
    ...tagsAhead([0, 1]),
    tombstones: [],
    checkpoint: {
      resourceType: resourceTypeOf('tag'),
      epoch: a.identity.epoch,
      seq: 20,
      hlc: undefined,
      covered: [],
      commitId: '',
    },
  });
  expect(result).toMatchObject({ received: 2, written: 2, beyondDrift: 0, maxAheadMs: 0 });
});
