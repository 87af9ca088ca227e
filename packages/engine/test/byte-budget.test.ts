/**
 * A page of rows with maximum-length strings must still fit one gRPC message: the server ends
 * the page early at a seq boundary (MAX_BATCH_BYTES), marks it not caught up, and the next page
 * carries on. Nothing is skipped or sent twice across those early cuts.
 */
import { EntryKind, StateBatch } from '@tidemark/proto';
import { lastValueFrom, toArray } from 'rxjs';
import { createLibrary, removeTempDirs } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { Library } from '../src/library';
import { resourceTypeOf } from '../src/resource-types';
import { MAX_BATCH_BYTES, MAX_BATCH_SIZE } from '../src/serve';
import { LibrarySyncService } from '../src/sync-service';
import { MAX_TEXT_BYTES } from '../src/validate';

const ENTRIES = 3_000;

let a: Library;

beforeAll(async () => {
  a = await createLibrary();
  const deviceUuid = a.identity.deviceId;
  await a.write(async (tx) => {
    for (let index = 0; index < ENTRIES; index++) {
      const name = `/file-${index}`;
      await tx.put('entry', {
        uuid: fixedUuid(1, index),
        deviceUuid,
        locationUuid: fixedUuid(2, 1),
        parentUuid: '',
        // The longest path a record may carry: 4,096 bytes.
        relativePath: 'd'.repeat(MAX_TEXT_BYTES - name.length) + name,
        kind: EntryKind.ENTRY_KIND_FILE,
        sizeBytes: index,
        modifiedAtMs: 1_700_000_000_000,
        contentUuid: '',
      });
    }
  });
});

afterAll(async () => {
  await a.close();
  removeTempDirs();
});

test('pages of maximum-length rows end early under the byte budget and lose nothing', async () => {
  const batches = await lastValueFrom(
    new LibrarySyncService(a)
      .streamState({
        libraryId: a.identity.libraryId,
        deviceId: fixedUuid(9, 9),
        cursors: [{ resourceType: resourceTypeOf('entry'), epoch: '', seq: 0, commitId: '', held: [] }],
        batchSize: MAX_BATCH_SIZE,
        follow: false,
      })
      .pipe(toArray()),
  );
  // Premise: the whole type fits one page by count, so only the byte budget can split it.
  expect(ENTRIES).toBeLessThan(MAX_BATCH_SIZE);
  expect(batches.length).toBeGreaterThan(1);
  let lastSeq = 0;
  const seen = new Set<string>();
  for (const [index, batch] of batches.entries()) {
    expect(StateBatch.encode(batch).finish().length).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    expect(batch.caughtUp).toBe(index === batches.length - 1);
    expect(batch.checkpoint!.seq).toBeGreaterThan(lastSeq);
    lastSeq = batch.checkpoint!.seq;
    for (const record of batch.records) {
      const uuid = record.kind!.value.uuid;
      expect(seen.has(uuid)).toBe(false);
      seen.add(uuid);
    }
  }
  expect(seen.size).toBe(ENTRIES);
});
