/**
 * The batch size a request asks for, as docs/protocol.md defines it: 0 means the default
 * (1,000 records plus tombstones), above the maximum (10,000) is clamped, anything else is kept.
 */
import { StateBatch } from '@tidemark/proto';
import { lastValueFrom, toArray } from 'rxjs';
import { resourceTypeOf } from '../src/resource-types';
import { clampBatchSize, DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE } from '../src/serve';
import { LibrarySyncService } from '../src/sync-service';
import { libraryOfTagsForFile } from './scenario-helpers';

const TAGS = DEFAULT_BATCH_SIZE + 1;
const tags = libraryOfTagsForFile(TAGS);

async function batchSizesServed(batchSize: number): Promise<number[]> {
  const batches: StateBatch[] = await lastValueFrom(
    new LibrarySyncService(tags.library)
      .streamState({
        libraryId: tags.library.identity.libraryId,
        deviceId: '',
        cursors: [{ resourceType: resourceTypeOf('tag'), epoch: '', seq: 0, commitId: '', held: [] }],
        batchSize,
        follow: false,
      })
      .pipe(toArray()),
  );
  return batches.map((batch) => batch.records.length + batch.tombstones.length);
}

test('a batch size of 0 serves batches of the default size', async () => {
  expect(await batchSizesServed(0)).toEqual([DEFAULT_BATCH_SIZE, 1]);
});

test('a batch size within the limits is kept', async () => {
  expect(await batchSizesServed(400)).toEqual([400, 400, 201]);
});

test('a batch size above the maximum is clamped to it; one below 1 or fractional never reaches a query', () => {
  expect(clampBatchSize(MAX_BATCH_SIZE + 1)).toBe(MAX_BATCH_SIZE);
  expect(clampBatchSize(MAX_BATCH_SIZE)).toBe(MAX_BATCH_SIZE);
  expect(clampBatchSize(-1)).toBe(DEFAULT_BATCH_SIZE);
  expect(clampBatchSize(Number.NaN)).toBe(DEFAULT_BATCH_SIZE);
  expect(clampBatchSize(2.5)).toBe(2);
  expect(clampBatchSize(1)).toBe(1);
});
