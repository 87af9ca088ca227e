/**
 * `applyBatches`: batches that have already arrived share one transaction, with the outcome of
 * applying them one by one. A batch rejected before or inside the transaction fails alone; the
 * batches before it commit with their watermarks, the ones after it are not tried.
 */
import { StateBatch } from '@tidemark/proto';
import { lastValueFrom, toArray } from 'rxjs';
import { createLibrary, removeTempDirs } from '../test/fixtures';
import { fixedUuid } from '../test/scenario-helpers';
import { applyBatches } from './apply';
import { MalformedBatchError } from './errors';
import { Library } from './library';
import { PeerHeadStore } from './peer-heads';
import { resourceTypeOf } from './resource-types';
import { LibrarySyncService } from './sync-service';
import { writeSyntheticLibrary } from './testing/synthetic';
import { ResourceWatermarkStore } from './watermarks';

let a: Library;
let b: Library;
let served: StateBatch[];

const BATCH = 40;

beforeEach(async () => {
  a = await createLibrary();
  b = await createLibrary({ libraryId: a.identity.libraryId });
  await writeSyntheticLibrary(a, { volumes: 1, locations: 2, entries: 5 * BATCH });
  served = await serveEntries({ epoch: '', seq: 0 });
  expect(served.length).toBeGreaterThanOrEqual(5);
});

/** A's entry batches after `cursor`, through the wire format like every real batch. */
async function serveEntries(cursor: { epoch: string; seq: number }): Promise<StateBatch[]> {
  const batches = await lastValueFrom(
    new LibrarySyncService(a)
      .streamState({
        libraryId: a.identity.libraryId,
        deviceId: b.identity.deviceId,
        cursors: [{ resourceType: resourceTypeOf('entry'), ...cursor, commitId: '', held: [] }],
        batchSize: BATCH,
        follow: false,
      })
      .pipe(toArray()),
  );
  return batches.map((batch) => StateBatch.decode(StateBatch.encode(batch).finish()));
}

afterEach(async () => {
  await b.close();
  await a.close();
});

afterAll(removeTempDirs);

const uuidsOf = (batch: StateBatch) => batch.records.map((record) => record.kind!.value.uuid);

async function storedEntries(): Promise<Set<string>> {
  const rows = await b.db.read.query<{ uuid: string }>('SELECT uuid FROM entries');
  return new Set(rows.map((row) => row.uuid));
}

async function entryMark(): Promise<number | undefined> {
  return (await new ResourceWatermarkStore(b.db.read).get(a.identity.deviceId, 'entry'))?.lastSeq;
}

const peer = () => a.identity.deviceId;

/** The first two batches committed with their cursor; none of the `refused` rows is stored. */
async function expectFirstTwoOnly(
  results: readonly unknown[],
  refused: readonly StateBatch[],
): Promise<void> {
  expect(results).toHaveLength(2);
  expect(await entryMark()).toBe(served[1].checkpoint!.seq);
  const stored = await storedEntries();
  expect(stored.size).toBe(2 * BATCH);
  for (const uuid of refused.flatMap(uuidsOf)) expect(stored.has(uuid)).toBe(false);
}

test('batches applied together: every row stored, each watermark advanced, the last one kept', async () => {
  // The peer's head as its handshake said, before the stream showed it further on.
  await b.db.writeTransaction((sql) =>
    new PeerHeadStore(sql).record(
      peer(),
      [{ resourceType: resourceTypeOf('entry'), seq: 1, rowCount: 0, tombstoneCount: 0, maxHlc: undefined }],
      Date.now(),
    ),
  );
  const { results, failure } = await applyBatches(b, peer(), served);
  expect(failure).toBeUndefined();
  expect(results.map((result) => result.watermarkSeq)).toEqual(served.map((s) => s.checkpoint!.seq));
  expect(await entryMark()).toBe(served[served.length - 1].checkpoint!.seq);
  expect((await storedEntries()).size).toBe(5 * BATCH);
  const heads = await new PeerHeadStore(b.db.read).all();
  expect(heads.find((head) => head.resourceType === 'entry')?.headSeq).toBe(
    served[served.length - 1].checkpoint!.seq,
  );
});

test('a malformed batch in the middle: the batches before it commit, it and the rest do not', async () => {
  const [first, second, third, ...rest] = served;
  const bad = StateBatch.decode(StateBatch.encode(third).finish());
  bad.records[7].kind!.value.uuid = 'not-a-uuid';
  const { results, failure } = await applyBatches(b, peer(), [first, second, bad, ...rest]);
  expect(failure).toBeInstanceOf(MalformedBatchError);
  await expectFirstTwoOnly(results, [third]);
});

test('a batch rejected inside the transaction fails alone; the batches before it commit', async () => {
  const [first, second, third, fourth] = served;
  // Valid on its own, but from another epoch without reset: refused inside the transaction,
  // after the earlier batches of the group were already written in it.
  const otherEpoch = StateBatch.decode(StateBatch.encode(third).finish());
  otherEpoch.checkpoint = { ...otherEpoch.checkpoint!, epoch: fixedUuid(7, 7) };
  const { results, failure } = await applyBatches(b, peer(), [first, second, otherEpoch, fourth]);
  expect(failure).toBeInstanceOf(MalformedBatchError);
  await expectFirstTwoOnly(results, [third, fourth]);
});

test('a storage failure after a batch wrote its rows fails that batch only', async () => {
  const [first, second, third] = served;
  // Fails the third batch at its last step (the change counter), after its rows are written.
  await b.db.writeTransaction((sql) =>
    sql.query(`CREATE TRIGGER storage_fails BEFORE UPDATE OF last_seq ON library_identity
      WHEN (SELECT count(*) FROM entries) > ${2 * BATCH}
      BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END`),
  );
  const { results, failure } = await applyBatches(b, peer(), [first, second, third]);
  expect(String(failure)).toContain('simulated storage failure');
  await expectFirstTwoOnly(results, [third]);
});

test('an older batch resent behind a newer one in the same transaction leaves the cursor at the newer', async () => {
  const [first, second, third] = served;
  const { results, failure } = await applyBatches(b, peer(), [first, third, second]);
  expect(failure).toBeUndefined();
  expect(results.map((result) => result.watermarkSeq)).toEqual([
    first.checkpoint!.seq,
    third.checkpoint!.seq,
    third.checkpoint!.seq,
  ]);
  expect(await entryMark()).toBe(third.checkpoint!.seq);
  expect((await storedEntries()).size).toBe(3 * BATCH);
});

test('a tombstone applied earlier in the same transaction keeps an older version of its row out', async () => {
  const last = served[served.length - 1];
  // The first batch, served while its rows lived; then every one of them is deleted on A.
  const [first] = served;
  await a.write(async (tx) => {
    for (const uuid of uuidsOf(first)) await tx.delete('entry', uuid);
  });
  const deletes = await serveEntries({ epoch: a.identity.epoch, seq: last.checkpoint!.seq });
  expect(deletes.flatMap((batch) => batch.tombstones)).toHaveLength(BATCH);
  // The tombstones first, then the rows' older versions, in one transaction.
  const { results, failure } = await applyBatches(b, peer(), [...deletes, first]);
  expect(failure).toBeUndefined();
  expect(results[results.length - 1].written).toBe(0);
  const stored = await storedEntries();
  for (const uuid of uuidsOf(first)) expect(stored.has(uuid)).toBe(false);
  const [{ n }] = await b.db.read.query<{ n: number }>(
    "SELECT count(*) AS n FROM tombstones WHERE resource_type = 'entry'",
  );
  expect(n).toBe(BATCH);
});
