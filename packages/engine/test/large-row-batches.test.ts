/**
 * A peer whose batches carry more than the client wants to hold at once (rows near their field
 * bounds) is asked again, from the cursor, for fewer rows per batch: the receiver's limits
 * follow the rows it asks for, so each message, and each copy of it in memory, shrinks.
 */
import { EntryKind, ResourceType, StateBatch, StateRequest } from '@tidemark/proto';
import { lastValueFrom, toArray } from 'rxjs';
import { createMembers, removeTempDirs } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { digestsOf, transportTo } from './sync-helpers';
import { approximateBatchBytes } from '../src/batch-bytes';
import { Library } from '../src/library';
import { syncFromPeer$ } from '../src/client';
import { SyncTransport } from '../src/transport';
import { MAX_TEXT_BYTES } from '../src/validate';

const ENTRIES = 6_000;
const MiB = 1024 * 1024;

let a: Library;
let b: Library;

beforeAll(async () => {
  [a, b] = await createMembers(2);
  const deviceUuid = a.identity.deviceId;
  for (let start = 0; start < ENTRIES; start += 2_000) {
    await a.write(async (tx) => {
      for (let index = start; index < start + 2_000; index++) {
        const name = `/file-${index}`;
        await tx.put('entry', {
          uuid: fixedUuid(1, index),
          deviceUuid,
          locationUuid: fixedUuid(2, 1),
          parentUuid: '',
          relativePath: 'd'.repeat(MAX_TEXT_BYTES - name.length) + name,
          kind: EntryKind.ENTRY_KIND_FILE,
          sizeBytes: index,
          modifiedAtMs: 1_700_000_000_000,
          contentUuid: '',
        });
      }
    });
  }
});

afterAll(async () => {
  await a.close();
  await b.close();
  removeTempDirs();
});

/** The entry requests a client made and the entry batches it received, through `inner`. */
function recording(inner: SyncTransport) {
  const requests: number[] = [];
  const batches: { stream: number; rows: number; bytes: number }[] = [];
  const transport: SyncTransport = {
    handshake: (request) => inner.handshake(request),
    digest: (request) => inner.digest(request),
    async *streamState(request: StateRequest, signal?: AbortSignal): AsyncGenerator<StateBatch> {
      const entries = request.cursors[0].resourceType === ResourceType.RESOURCE_TYPE_ENTRY;
      if (entries) requests.push(request.batchSize);
      const stream = requests.length;
      for await (const batch of inner.streamState(request, signal)) {
        if (entries && batch.records.length > 0) {
          batches.push({ stream, rows: batch.records.length, bytes: approximateBatchBytes(batch) });
        }
        yield batch;
      }
    },
  };
  return { transport, requests, batches };
}

test('a peer sending batches over 4 MiB is asked for fewer rows, and everything arrives', async () => {
  const { transport, requests, batches } = recording(transportTo(a));
  await lastValueFrom(syncFromPeer$(b, transport, { batchSize: 5_000 }).pipe(toArray()));

  // The server's page budget cuts the first batches at ~1,300 such rows (~5.7 MB)...
  expect(requests[0]).toBe(5_000);
  const first = batches.filter((batch) => batch.stream === 1);
  expect(first[0].bytes).toBeGreaterThan(5 * MiB);
  // ...so after the group that held them, the rest was asked for again in batches of fewer
  // rows, each within 4 MiB.
  expect(first.length).toBeLessThanOrEqual(2);
  expect(requests.length).toBeGreaterThanOrEqual(2);
  expect(requests[1]).toBeLessThan(first[0].rows);
  const later = batches.filter((batch) => batch.stream > 1);
  expect(later.length).toBeGreaterThan(2);
  for (const batch of later) expect(batch.bytes).toBeLessThanOrEqual(4 * MiB);
  // Nothing is lost; at most the batch read ahead of the restart comes twice.
  const received = batches.reduce((sum, batch) => sum + batch.rows, 0);
  expect(received).toBeGreaterThanOrEqual(ENTRIES);
  expect(received).toBeLessThanOrEqual(ENTRIES + first[0].rows);
  expect((await digestsOf(b)).entry).toBe((await digestsOf(a)).entry);
});
