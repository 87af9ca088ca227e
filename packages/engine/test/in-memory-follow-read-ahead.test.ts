/**
 * The in-memory transport holds the follow phase of every type to its read-ahead. Each type's
 * stream waits there after its batch, so after a commit touching several types several wait at
 * once, and every one of them must be let go as the client reads: a single wake-up slot kept only
 * the last, and the other types never served another commit.
 */
import { StateBatch } from '@tidemark/proto';
import { Library } from '../src/library';
import { ResourceName, resourceTypeOf } from '../src';
import { createLibrary, removeTempDirs } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { transportTo } from './sync-helpers';

async function until(condition: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const TYPES: ResourceName[] = ['tag', 'collection', 'content_identity'];
let server: Library;
let client: Library;

afterEach(async () => {
  await client.close();
  await server.close();
});
afterAll(removeTempDirs);

/** One commit that changes a row of each of TYPES, named after `round`. */
const touchEveryType = (round: number) =>
  server.write(async (tx) => {
    await tx.put('tag', { uuid: fixedUuid(1, 1), name: `tag ${round}`, color: '' });
    await tx.put('collection', { uuid: fixedUuid(2, 1), name: `collection ${round}`, description: '' });
    await tx.put('content_identity', {
      uuid: fixedUuid(3, 1),
      contentHash: round.toString(16).padStart(64, '0'),
      sizeBytes: round,
      mimeType: 'text/plain',
    });
  });

test('after a commit to several types, each type serves the next commit too (read-ahead 1)', async () => {
  server = await createLibrary({ fallbackPollMs: 3_600_000, commitNotifications: false });
  client = await createLibrary({ libraryId: server.identity.libraryId });
  const controller = new AbortController();
  const transport = transportTo(server, { readAhead: 1 });
  const stream = transport.streamState(
    {
      libraryId: server.identity.libraryId,
      deviceId: client.identity.deviceId,
      cursors: TYPES.map((name) => ({
        resourceType: resourceTypeOf(name),
        epoch: '',
        seq: 0,
        commitId: '',
        held: [],
      })),
      batchSize: 100,
      follow: true,
    },
    controller.signal,
  );
  const batches = stream[Symbol.asyncIterator]();
  const next = async (): Promise<StateBatch> => {
    const result = await batches.next();
    if (result.done) throw new Error('the stream ended');
    return result.value;
  };
  try {
    for (let caughtUp = 0; caughtUp < TYPES.length;) if ((await next()).caughtUp) caughtUp++;
    for (let round = 1; round <= 3; round++) {
      await touchEveryType(round);
      // The client reads nothing until every type's stream has its batch out and waits.
      await until(() => transport.queuedBatches >= TYPES.length);
      const served = new Set<number>();
      while (served.size < TYPES.length) {
        const batch = await next();
        if (batch.records.length > 0) served.add(batch.resourceType);
      }
    }
  } finally {
    controller.abort();
    await batches.return?.(undefined);
  }
}, 30_000);
