/**
 * What a served batch says of each item's origin (serve.ts, `originsOnWire`): the origin seq and
 * epoch the row or tombstone took where it was written, so a requester that serves it onward can
 * leave it out for a device that holds it. An item whose origin is unknown here (it came from a
 * server that predates the fields) is served onward without one, never refused or failed.
 */
import { StateBatch, Tombstone } from '@tidemark/proto';
import { lastValueFrom, toArray } from 'rxjs';
import { applyBatch } from '../src/apply';
import { Library } from '../src/library';
import { wrapRecord } from '../src/records';
import { resourceTypeOf } from '../src/resource-types';
import { backfillResource$ } from '../src/serve';
import { createMembers, removeTempDirs, TestClock } from './fixtures';
import { fixedUuid } from './scenario-helpers';

let clock: TestClock;
let a: Library;
let b: Library;

beforeAll(async () => {
  clock = new TestClock();
  [a, b] = await createMembers(2, { clock: { now: clock.now } });
});

afterAll(async () => {
  await b.close();
  await a.close();
  removeTempDirs();
});

/** Epochs of some other device, named as origin epochs: one for the rows, one for the tombstones. */
const EPOCH = fixedUuid(8, 1);
const LATER_EPOCH = fixedUuid(8, 2);
const ORIGIN = fixedUuid(9, 9);

const tagOf = (n: number) =>
  wrapRecord('tag', {
    uuid: fixedUuid(5, n),
    name: `tag ${n}`,
    color: '',
    hlc: { physicalMs: clock.ms, logical: n },
    origin: ORIGIN,
  });
const tombstoneOf = (n: number, originSeq: number, originEpoch: string): Tombstone => ({
  resourceType: resourceTypeOf('tag'),
  uuid: fixedUuid(6, n),
  hlc: { physicalMs: clock.ms, logical: n },
  origin: ORIGIN,
  originSeq,
  originEpoch,
});

/** Everything `library` serves of its tags from seq 0, as one list of batches. */
const served = (library: Library) =>
  lastValueFrom(
    backfillResource$(library, 'tag', { epoch: library.identity.epoch, seq: 0 }, 100).pipe(toArray()),
  );

/** Each record's [uuid, origin seq, origin epoch] and each tombstone's, from the batches. */
function originsIn(batches: readonly StateBatch[]) {
  const records: [string, number, string][] = [];
  const tombstones: [string, number, string][] = [];
  for (const batch of batches) {
    batch.records.forEach((record, index) => {
      const ref = batch.recordOriginEpochs[index];
      records.push([
        (record.kind!.value as { uuid: string }).uuid,
        batch.recordOriginSeqs[index],
        ref === 0 ? '' : batch.originEpochs[ref - 1],
      ]);
    });
    for (const tombstone of batch.tombstones) {
      tombstones.push([tombstone.uuid, tombstone.originSeq, tombstone.originEpoch]);
    }
  }
  return { records, tombstones };
}

test('rows and tombstones are served onward with the origin seq and epoch they came with, and without one when it is unknown', async () => {
  // From A: two tags and three tombstones of ORIGIN's, one of each with its origin (seq 7 in
  // EPOCH, seq 9 in LATER_EPOCH: lineages of their own) and one without (as a server that
  // predates the fields sends them); the third tombstone has a seq but no epoch.
  await applyBatch(b, a.identity.deviceId, {
    resourceType: resourceTypeOf('tag'),
    records: [tagOf(1), tagOf(2)],
    tombstones: [tombstoneOf(3, 0, ''), tombstoneOf(4, 9, LATER_EPOCH), tombstoneOf(5, 6, '')],
    checkpoint: {
      resourceType: resourceTypeOf('tag'),
      epoch: a.identity.epoch,
      seq: 5,
      hlc: undefined,
      covered: [],
      commitId: '',
    },
    remaining: 0,
    reset: false,
    caughtUp: false,
    recordOriginSeqs: [0, 7],
    recordOriginEpochs: [0, 1],
    originEpochs: [EPOCH],
    heldSkipped: 0,
  });

  // An unknown origin names no lineage: none is recorded for it.
  const [unnamed] = await b.db.read.query<{ n: number }>(
    "SELECT count(*) AS n FROM origin_lineages WHERE epoch = ''",
  );
  expect(Number(unnamed.n)).toBe(0);

  const { records, tombstones } = originsIn(await served(b));
  expect(records).toEqual([
    [fixedUuid(5, 1), 0, ''],
    [fixedUuid(5, 2), 7, EPOCH],
  ]);
  expect(tombstones).toEqual([
    [fixedUuid(6, 3), 0, ''],
    [fixedUuid(6, 4), 9, LATER_EPOCH],
    // A seq without an epoch names no lineage: unknown too.
    [fixedUuid(6, 5), 0, ''],
  ]);
});

test("a device's own writes and deletes are served with its own epoch and the seq each took", async () => {
  clock.advance(1_000);
  await a.write(async (tx) => {
    await tx.put('tag', { uuid: fixedUuid(7, 1), name: 'kept', color: '' });
    await tx.put('tag', { uuid: fixedUuid(7, 2), name: 'deleted', color: '' });
  });
  await a.write((tx) => tx.delete('tag', fixedUuid(7, 2)));
  const seqs = await a.db.read.query<{ uuid: string; seq: number }>(
    "SELECT uuid, seq FROM tags UNION ALL SELECT uuid, seq FROM tombstones WHERE resource_type = 'tag'",
  );
  const seqOf = (uuid: string) => Number(seqs.find((row) => row.uuid === uuid)!.seq);

  const { records, tombstones } = originsIn(await served(a));
  expect(records).toEqual([[fixedUuid(7, 1), seqOf(fixedUuid(7, 1)), a.identity.epoch]]);
  expect(tombstones).toEqual([[fixedUuid(7, 2), seqOf(fixedUuid(7, 2)), a.identity.epoch]]);
});
