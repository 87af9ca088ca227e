/**
 * A backfill waiting on the gate (BackfillGate) waits for as long as the running pull of its
 * type applies batches, however long that takes, and not a fixed longest wait: the node's pulls
 * report their progress to the gate. Breaks tried: the client not reporting progress (the
 * second pull then starts while the first still runs).
 */
import { BackfillGate } from '../src';
import { resourceTypeOf } from '../src/resource-types';
import { SyncTransport } from '../src/transport';
import { createMembers, removeTempDirs } from './fixtures';
import { syncUntilCut, transportTo } from './sync-helpers';
import { Library } from '../src/library';

afterAll(removeTempDirs);

/** A transport to `server` that logs its tag streams, and delivers tag batches `delayMs` apart. */
function loggedTransport(server: Library, label: string, log: string[], delayMs: number): SyncTransport {
  const inner = transportTo(server);
  const tagType = resourceTypeOf('tag');
  return {
    handshake: (request) => inner.handshake(request),
    digest: (request) => inner.digest(request),
    async *streamState(request, signal) {
      const tags = request.cursors.some((cursor) => cursor.resourceType === tagType);
      if (tags) log.push(`${label} start`);
      for await (const batch of inner.streamState(request, signal)) {
        if (batch.resourceType === tagType && delayMs > 0) {
          await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
        yield batch;
      }
      if (tags) log.push(`${label} end`);
    },
  };
}

test('a waiting backfill starts only once the running one ended, although that took many stall times', async () => {
  const [a, b, c] = await createMembers(3);
  await a.write(async (tx) => {
    for (let i = 0; i < 150; i++)
      await tx.put('tag', { uuid: crypto.randomUUID(), name: `a-${i}`, color: '' });
  });
  await b.write(async (tx) => {
    for (let i = 0; i < 5; i++) await tx.put('tag', { uuid: crypto.randomUUID(), name: `b-${i}`, color: '' });
  });
  // A pull of A's tags takes 15 batches 200 ms apart: twice the stall time, which no gap between
  // two of its batches comes near.
  const gate = new BackfillGate(1_500);
  const log: string[] = [];
  const options = { backfillGate: gate, batchSize: 10, types: ['tag'] as const };
  const fromA = syncUntilCut(c, loggedTransport(a, 'A', log, 200), options);
  const deadline = Date.now() + 20_000;
  while (!log.includes('A start') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const fromB = syncUntilCut(c, loggedTransport(b, 'B', log, 0), options);
  expect((await fromA).error).toBeUndefined();
  expect((await fromB).error).toBeUndefined();
  expect(log).toEqual(['A start', 'A end', 'B start', 'B end']);
  await a.close();
  await b.close();
  await c.close();
});
