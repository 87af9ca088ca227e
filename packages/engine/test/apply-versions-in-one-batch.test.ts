/**
 * Last-writer-wins holds inside one batch too. A node never serves two versions of one row in a
 * batch, but a peer is any client of the protocol: whatever order a batch lists two versions of a
 * row in, the newer one is what a library keeps, and applying a batch again writes nothing.
 */
import { StateBatch } from '@tidemark/proto';
import { applyBatch } from '../src/apply';
import { Library } from '../src/library';
import { TestClock, twoDevicesForEachTest } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { servedThroughWire } from './sync-helpers';

const TAG = fixedUuid(5, 1);
let a: Library;
let b: Library;
let clock: TestClock;
twoDevicesForEachTest((x, y, c) => ([a, b, clock] = [x, y, c]), { steppingClock: true });

/** A's whole tag type as one batch, through the wire format like every real batch. */
async function servedTags(): Promise<StateBatch> {
  const batches = await servedThroughWire(a, b, 'tag');
  expect(batches).toHaveLength(1);
  return batches[0];
}

async function tagOnB(): Promise<string> {
  const [row] = await b.db.read.query<{ name: string }>('SELECT name FROM tags WHERE uuid = ?', [TAG]);
  const [tombstone] = await b.db.read.query<{ hlc: string }>(
    "SELECT hlc FROM tombstones WHERE resource_type = 'tag' AND uuid = ?",
    [TAG],
  );
  return `${row ? `row ${row.name}` : 'no row'}, ${tombstone ? 'tombstone' : 'no tombstone'}`;
}

async function putTag(name: string): Promise<void> {
  clock.advance(1_000);
  await a.write((tx) => tx.put('tag', { uuid: TAG, name, color: '' }));
}

test.each([
  ['older first', (older: StateBatch, newer: StateBatch) => [...older.records, ...newer.records]],
  ['newer first', (older: StateBatch, newer: StateBatch) => [...newer.records, ...older.records]],
])('a batch with two versions of one row keeps the newer (%s)', async (_, order) => {
  await putTag('older');
  const older = await servedTags();
  await putTag('newer');
  const newer = await servedTags();
  // Each record keeps its own origin seq and epoch in the batch's parallel lists.
  const both = order(older, newer);
  const pick = <T>(list: (batch: StateBatch) => T[]) => {
    const olderFirst = both[0] === older.records[0];
    return olderFirst ? [...list(older), ...list(newer)] : [...list(newer), ...list(older)];
  };
  await applyBatch(b, a.identity.deviceId, {
    ...newer,
    records: both,
    recordOriginSeqs: pick((batch) => batch.recordOriginSeqs),
    recordOriginEpochs: pick((batch) => batch.recordOriginEpochs),
  });
  expect(await tagOnB()).toBe('row newer, no tombstone');
});

test('a batch with a row and an older tombstone of it keeps the row', async () => {
  await putTag('first');
  clock.advance(1_000);
  await a.write((tx) => tx.delete('tag', TAG));
  const deleted = await servedTags();
  await putTag('re-created');
  const recreated = await servedTags();
  expect([deleted.tombstones.length, recreated.records.length]).toEqual([1, 1]);

  await applyBatch(b, a.identity.deviceId, { ...recreated, tombstones: deleted.tombstones });
  expect(await tagOnB()).toBe('row re-created, no tombstone');
});

test('a batch applied again writes nothing: every item is skipped and no local seq is taken', async () => {
  await putTag('once');
  clock.advance(1_000);
  await a.write((tx) => tx.put('tag', { uuid: fixedUuid(5, 2), name: 'deleted', color: '' }));
  await a.write((tx) => tx.delete('tag', fixedUuid(5, 2)));
  const batch = await servedTags();
  const first = await applyBatch(b, a.identity.deviceId, batch);
  expect(first).toMatchObject({ received: 2, written: 2, skipped: 0 });
  const head = await b.headSeq();

  const again = await applyBatch(b, a.identity.deviceId, batch);
  expect(again).toMatchObject({ received: 2, written: 0, skipped: 2 });
  expect(await b.headSeq()).toBe(head);
});
