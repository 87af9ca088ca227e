/**
 * What applyBatch says when it refuses a malformed batch: one sentence naming the type, the
 * record or tombstone by its index, and what is wrong with it, so the operator (or the author of
 * another client) can tell which check failed. Every check before the transaction has its case;
 * malformed-batch.test.ts shows that a refused batch leaves nothing behind.
 */
import { Checkpoint, ResourceType, StateBatch, Tombstone } from '@tidemark/proto';
import { applyBatch } from '../src/apply';
import { MalformedBatchError, StaleFilterError } from '../src/errors';
import { Library } from '../src/library';
import { wrapRecord } from '../src/records';
import { ResourceName, resourceTypeOf } from '../src/resource-types';
import { validateFields } from '../src/validate';
import { ResourceWatermarkStore } from '../src/watermarks';
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

const OTHER = fixedUuid(9, 9);
/** An origin epoch of some device. */
const EPOCH = fixedUuid(8, 1);
const stamp = () => ({ physicalMs: clock.ms, logical: 0 });

function tagOf(origin: string, n: number) {
  return wrapRecord('tag', { uuid: fixedUuid(5, n), name: `tag ${n}`, color: '', hlc: stamp(), origin });
}

function tombstoneOf(name: ResourceName, uuid: string, origin: string): Tombstone {
  return { resourceType: resourceTypeOf(name), uuid, hlc: stamp(), origin, originSeq: 0, originEpoch: '' };
}

function batchOf(name: ResourceName, parts: Partial<StateBatch> = {}): StateBatch {
  return {
    resourceType: resourceTypeOf(name),
    records: [],
    tombstones: [],
    checkpoint: {
      resourceType: resourceTypeOf(name),
      epoch: a.identity.epoch,
      seq: 1,
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
    ...parts,
  };
}

const checkpoint = (parts: object) => ({ ...batchOf('tag').checkpoint!, ...parts });

const CASES: readonly {
  readonly label: string;
  readonly batch: () => StateBatch;
  readonly message: string;
}[] = [
  {
    label: 'an unknown resource type',
    batch: () => ({ ...batchOf('tag'), resourceType: 99 as ResourceType }),
    message: 'batch has unknown resource type 99',
  },
  {
    label: 'no checkpoint',
    batch: () => batchOf('tag', { checkpoint: undefined }),
    message: 'tag batch has no checkpoint of its own type and epoch',
  },
  {
    label: 'a checkpoint of another type',
    batch: () => batchOf('tag', { checkpoint: checkpoint({ resourceType: resourceTypeOf('entry') }) }),
    message: 'tag batch has no checkpoint of its own type and epoch',
  },
  {
    label: 'a checkpoint without an epoch',
    batch: () => batchOf('tag', { checkpoint: checkpoint({ epoch: '' }) }),
    message: 'tag batch has no checkpoint of its own type and epoch',
  },
  {
    label: 'a checkpoint epoch that is no UUID',
    batch: () => batchOf('tag', { checkpoint: checkpoint({ epoch: 'EPOCH' }) }),
    message: 'tag batch checkpoint epoch "EPOCH" must be a lowercase hyphenated UUID',
  },
  {
    label: 'a negative checkpoint seq',
    batch: () => batchOf('tag', { checkpoint: checkpoint({ seq: -1 }) }),
    message: 'tag batch checkpoint seq -1 is invalid',
  },
  {
    label: 'a checkpoint seq beyond 2^53',
    batch: () => batchOf('tag', { checkpoint: checkpoint({ seq: 2 ** 53 }) }),
    message: 'tag batch checkpoint seq 9007199254740992 is invalid',
  },
  {
    label: 'a record of another type',
    batch: () => batchOf('collection', { records: [tagOf(a.identity.deviceId, 1)] }),
    message: 'collection batch record 0 is not a collection',
  },
  {
    label: 'a record with a field out of range',
    batch: () =>
      batchOf('tag', {
        records: [
          tagOf(a.identity.deviceId, 1),
          wrapRecord('tag', { uuid: fixedUuid(5, 2), name: '', color: '', hlc: stamp(), origin: OTHER }),
        ],
      }),
    // validate.ts words the field's problem; apply names the type and the record's index.
    message: `tag batch record 1: ${validateFields('tag', { uuid: fixedUuid(5, 2), name: '', color: '' })}`,
  },
  {
    label: 'a record without a stamp',
    batch: () =>
      batchOf('tag', {
        records: [
          wrapRecord('tag', { uuid: fixedUuid(5, 3), name: 't', color: '', hlc: undefined, origin: OTHER }),
        ],
      }),
    message: 'tag batch record 0: hlc is missing',
  },
  {
    label: 'a record whose origin is no UUID',
    batch: () => batchOf('tag', { records: [tagOf('ORIGIN', 4)] }),
    message: 'tag batch record 0: origin must be a lowercase hyphenated UUID',
  },
  {
    label: 'a device-owned record whose origin is not its owner',
    batch: () =>
      batchOf('volume', {
        records: [
          wrapRecord('volume', {
            uuid: fixedUuid(2, 1),
            deviceUuid: a.identity.deviceId,
            name: 'disk',
            mountPoint: '/',
            filesystem: 'ext4',
            capacityBytes: 1,
            hlc: stamp(),
            origin: OTHER,
          }),
        ],
      }),
    message: `volume batch record 0: origin ${OTHER} is not the owning device {A}`,
  },
  {
    label: 'a tombstone of another type',
    batch: () =>
      batchOf('tag', {
        tombstones: [
          tombstoneOf('tag', fixedUuid(5, 5), OTHER),
          tombstoneOf('collection', fixedUuid(5, 6), OTHER),
        ],
      }),
    message: 'tag batch tombstone 1: resource type differs from the batch',
  },
  {
    label: 'a tombstone of a membership change',
    batch: () => batchOf('membership', { tombstones: [tombstoneOf('membership', fixedUuid(5, 7), OTHER)] }),
    message: 'membership batch tombstone 0: membership changes are never deleted',
  },
  {
    label: "a tombstone of a device row from another device than the row's own",
    batch: () => batchOf('device', { tombstones: [tombstoneOf('device', fixedUuid(1, 1), OTHER)] }),
    message: `device batch tombstone 0: a device row is deleted only by the device itself, not by ${OTHER}`,
  },
  {
    label: 'a tombstone whose uuid is no UUID',
    batch: () => batchOf('tag', { tombstones: [tombstoneOf('tag', 'nope', OTHER)] }),
    message: 'tag batch tombstone 0: uuid must be a lowercase hyphenated UUID',
  },
  {
    label: 'a tombstone whose origin is no UUID',
    batch: () => batchOf('tag', { tombstones: [tombstoneOf('tag', fixedUuid(5, 8), 'not-a-device')] }),
    message: 'tag batch tombstone 0: origin must be a lowercase hyphenated UUID',
  },
  {
    label: 'a tombstone without a stamp',
    batch: () =>
      batchOf('tag', { tombstones: [{ ...tombstoneOf('tag', fixedUuid(5, 9), OTHER), hlc: undefined }] }),
    message: 'tag batch tombstone 0: hlc is missing',
  },
  {
    label: 'record origin seqs that are not one per record',
    batch: () => batchOf('tag', { records: [tagOf(OTHER, 10)], recordOriginSeqs: [1, 2] }),
    message: 'tag batch: record_origin_seqs has 2 entries for 1 records',
  },
  {
    label: 'record origin epochs that are not one per record',
    batch: () =>
      batchOf('tag', { records: [tagOf(OTHER, 11)], recordOriginEpochs: [1, 1], originEpochs: [EPOCH] }),
    message: 'tag batch: record_origin_epochs has 2 entries for 1 records',
  },
  {
    label: 'an origin epoch that is no UUID',
    batch: () => batchOf('tag', { originEpochs: [EPOCH, 'EPOCH'] }),
    message: 'tag batch: origin_epochs must be lowercase hyphenated UUIDs',
  },
  ...[-1, 2 ** 53, 1.5].map((seq) => ({
    label: `a record origin seq of ${seq}`,
    batch: () =>
      batchOf('tag', {
        records: [tagOf(OTHER, 12), tagOf(OTHER, 13)],
        recordOriginSeqs: [1, seq],
        recordOriginEpochs: [1, 1],
        originEpochs: [EPOCH],
      }),
    message: 'tag batch: record_origin_seqs must be below 2^53',
  })),
  {
    label: 'a record origin epoch that refers past the epochs',
    batch: () =>
      batchOf('tag', {
        records: [tagOf(OTHER, 14)],
        recordOriginSeqs: [1],
        recordOriginEpochs: [2],
        originEpochs: [EPOCH],
      }),
    message: 'tag batch: record_origin_epochs refers past origin_epochs',
  },
  ...[
    ['an origin that is no UUID', { origin: 'ORIGIN', epoch: EPOCH, seq: 1 }],
    ['an epoch that is no UUID', { origin: OTHER, epoch: '', seq: 1 }],
    ['a seq beyond 2^53', { origin: OTHER, epoch: EPOCH, seq: 2 ** 53 }],
    ['a negative seq', { origin: OTHER, epoch: EPOCH, seq: -1 }],
  ].map(([what, prefix]) => ({
    label: `a covered prefix with ${String(what)}`,
    batch: () =>
      batchOf('tag', {
        checkpoint: checkpoint({ covered: [{ origin: OTHER, epoch: EPOCH, seq: 3 }, prefix] }),
      }),
    message: 'tag batch: checkpoint.covered needs UUID origins and epochs and seqs below 2^53',
  })),
  ...['abc', 'A'.repeat(32), '0'.repeat(33)].map((commitId) => ({
    label: `a checkpoint commit id ${commitId}`,
    batch: () => batchOf('tag', { checkpoint: checkpoint({ commitId }) }),
    message: 'tag batch checkpoint commit_id must be empty or 32 lowercase hex digits',
  })),
  ...[-1, 2 ** 53].map((originSeq) => ({
    label: `a tombstone origin seq of ${originSeq}`,
    batch: () =>
      batchOf('tag', {
        tombstones: [{ ...tombstoneOf('tag', fixedUuid(5, 15), OTHER), originSeq, originEpoch: EPOCH }],
      }),
    message: 'tag batch tombstone 0: origin_seq must be below 2^53',
  })),
  {
    label: 'a tombstone origin epoch that is no UUID',
    batch: () =>
      batchOf('tag', {
        tombstones: [{ ...tombstoneOf('tag', fixedUuid(5, 16), OTHER), originSeq: 4, originEpoch: 'EPOCH' }],
      }),
    message: 'tag batch tombstone 0: origin_epoch must be empty or a lowercase hyphenated UUID',
  },
];

test.each(CASES)('$label is refused with one sentence saying so', async ({ batch, message }) => {
  const refusal = applyBatch(b, a.identity.deviceId, batch());
  await expect(refusal).rejects.toBeInstanceOf(MalformedBatchError);
  await expect(refusal).rejects.toThrow(message.replace('{A}', a.identity.deviceId));
});

test('a device tombstone from the device itself, and a checkpoint seq of 0, pass these checks', async () => {
  const own = fixedUuid(1, 2);
  const result = await applyBatch(
    b,
    a.identity.deviceId,
    batchOf('device', {
      tombstones: [tombstoneOf('device', own, own)],
      checkpoint: { ...checkpoint({ seq: 0 }), resourceType: resourceTypeOf('device') },
    }),
  );
  expect(result.received).toBe(1);
  expect(result.watermarkSeq).toBe(0);
});

test('a covered prefix at seq 0 (nothing of that lineage held yet) passes these checks', async () => {
  // protocol.md: covered seqs run from 0 to 2^53 - 1; only a negative one is malformed.
  const peer = fixedUuid(9, 7);
  const result = await applyBatch(
    b,
    peer,
    batchOf('tag', {
      checkpoint: checkpoint({
        seq: 1,
        covered: [
          { origin: OTHER, epoch: EPOCH, seq: 0 },
          { origin: OTHER, epoch: fixedUuid(8, 3), seq: 4 },
        ],
      }),
    }),
  );
  expect({ watermarkSeq: result.watermarkSeq, prefixesRaised: result.prefixesRaised }).toEqual({
    watermarkSeq: 1,
    prefixesRaised: 2,
  });
});

test('a batch served against a claim this device no longer makes is refused with one sentence naming the claim', async () => {
  // This device holds no claim on OTHER's lineage: a request that listed one is stale.
  const refusal = applyBatch(b, fixedUuid(9, 6), batchOf('tag'), {
    requestedHeld: [{ origin: OTHER, epoch: EPOCH, seq: 5 }],
  });
  await expect(refusal).rejects.toBeInstanceOf(StaleFilterError);
  await expect(refusal).rejects.toThrow(
    `tag batch was served against a claim on ${OTHER} (epoch ${EPOCH}) up to 5 that this device forgot since; asking again`,
  );
});

test('a row or a tombstone that would take over a device-owned row is refused naming the row and both devices', async () => {
  const uuid = fixedUuid(2, 7);
  const volumeOf = (owner: string, logical: number) =>
    wrapRecord('volume', {
      uuid,
      deviceUuid: owner,
      name: 'disk',
      mountPoint: '/',
      filesystem: 'ext4',
      capacityBytes: 1,
      hlc: { physicalMs: clock.ms, logical },
      origin: owner,
    });
  await applyBatch(
    b,
    a.identity.deviceId,
    batchOf('volume', { records: [volumeOf(a.identity.deviceId, 0)] }),
  );
  const owner = `volume ${uuid} belongs to device ${a.identity.deviceId}`;
  const fromOther = (parts: Partial<StateBatch>) => applyBatch(b, OTHER, batchOf('volume', parts));
  await expect(fromOther({ records: [volumeOf(OTHER, 1)] })).rejects.toMatchObject({
    code: 'FORBIDDEN_ROWS',
    message: `volume batch from ${OTHER}: ${owner}; a row from ${OTHER} would take it over`,
  });
  await expect(
    fromOther({
      tombstones: [{ ...tombstoneOf('volume', uuid, OTHER), hlc: { physicalMs: clock.ms, logical: 2 } }],
    }),
  ).rejects.toMatchObject({
    code: 'FORBIDDEN_ROWS',
    message: `volume batch from ${OTHER}: ${owner}; a tombstone from ${OTHER} would take it over`,
  });
});

test('origin lists at their limits, and a checkpoint built in process without covered and commit id, pass; the cursor keeps an empty commit id', async () => {
  const peer = fixedUuid(9, 8);
  // What an in-process caller that predates the fields builds: no covered list, no commit id.
  const bare: Partial<Checkpoint> = checkpoint({ seq: 7 });
  delete bare.covered;
  delete bare.commitId;
  const result = await applyBatch(
    b,
    peer,
    batchOf('tag', {
      records: [tagOf(OTHER, 20), tagOf(OTHER, 21), tagOf(OTHER, 22)],
      // A seq of 0 or an epoch ref of 0 marks an origin unknown; a ref may name the last epoch.
      recordOriginSeqs: [0, 5, 2 ** 53 - 1],
      recordOriginEpochs: [1, 0, 2],
      originEpochs: [EPOCH, fixedUuid(8, 2)],
      tombstones: [
        { ...tombstoneOf('tag', fixedUuid(5, 23), OTHER), originSeq: 2 ** 53 - 1, originEpoch: '' },
      ],
      checkpoint: bare as Checkpoint,
      // Not caught up: a caught-up batch's covered prefixes are adopted, and that needs the list.
      caughtUp: false,
    }),
  );
  expect({ received: result.received, written: result.written, watermarkSeq: result.watermarkSeq }).toEqual({
    received: 4,
    written: 4,
    watermarkSeq: 7,
  });
  expect(await new ResourceWatermarkStore(b.db.read).get(peer, 'tag')).toMatchObject({
    peerEpoch: a.identity.epoch,
    lastSeq: 7,
    peerCommit: '',
  });
});
