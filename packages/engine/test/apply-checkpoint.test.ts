/**
 * What apply takes from a batch's checkpoint: a batch of another epoch than the cursor's is
 * refused unless marked reset, with a sentence naming both epochs; the checkpoint's HLC is only
 * information for the watermark, so one out of range is not recorded and the batch still applies.
 */
import { StateBatch } from '@tidemark/proto';
import { applyBatch } from '../src/apply';
import { MalformedBatchError } from '../src/errors';
import { Library } from '../src/library';
import { ResourceWatermarkStore } from '../src/watermarks';
import { twoDevicesForEachTest } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { servedThroughWire } from './sync-helpers';

let a: Library;
let b: Library;
twoDevicesForEachTest((x, y) => ([a, b] = [x, y]));

beforeEach(async () => {
  await a.write((tx) => tx.put('tag', { uuid: fixedUuid(5, 1), name: 'tag', color: '' }));
});

async function servedTags(): Promise<StateBatch> {
  const [batch] = await servedThroughWire(a, b, 'tag');
  return batch;
}

const tagMark = () => new ResourceWatermarkStore(b.db.read).get(a.identity.deviceId, 'tag');

const ANOTHER_EPOCH = 'a0000000-0000-4000-8000-00000000e90c';

test('a batch of another epoch than the cursor, not marked reset, is refused naming both epochs', async () => {
  const batch = await servedTags();
  await applyBatch(b, a.identity.deviceId, batch);
  const other = { ...batch, checkpoint: { ...batch.checkpoint!, epoch: ANOTHER_EPOCH }, reset: false };
  const refusal = applyBatch(b, a.identity.deviceId, other);
  await expect(refusal).rejects.toBeInstanceOf(MalformedBatchError);
  await expect(refusal).rejects.toThrow(
    `tag batch is from epoch ${ANOTHER_EPOCH} but the cursor is from ${a.identity.epoch} and the batch is not marked reset`,
  );
  expect((await tagMark())?.peerEpoch).toBe(a.identity.epoch);
});

test.each([
  ['beyond 48 bits', { physicalMs: 2 ** 48, logical: 0 }],
  ['before the valid range', { physicalMs: 0, logical: 0 }],
])('a checkpoint HLC %s is not recorded, and the batch applies', async (_, hlc) => {
  const batch = await servedTags();
  const result = await applyBatch(b, a.identity.deviceId, {
    ...batch,
    checkpoint: { ...batch.checkpoint!, hlc },
  });
  expect(result.written).toBe(batch.records.length);
  const mark = await tagMark();
  expect(mark).toMatchObject({ lastSeq: batch.checkpoint!.seq, lastHlc: undefined });
});
