/**
 * A stream asked again with new claims (client.ts, pullRefiltered) still makes progress: claims
 * rise on every page of each origin's own stream (own-lineage coverage, docs/architecture.md),
 * and a stream cancelled each time they rose, before its first batch arrived, delivered nothing
 * (a mesh's live phase starved whole streams this way). Each request now delivers at least one
 * batch before it is asked again.
 */
import { lastValueFrom, takeUntil, tap, timer } from 'rxjs';
import { SyncEvent, syncFromPeer$ } from '../src';
import { SyncTransport } from '../src/transport';
import { createMembers, removeTempDirs } from './fixtures';
import { transportTo } from './sync-helpers';

afterAll(removeTempDirs);

test('a pull asked again whenever claims rise elsewhere still delivers every row', async () => {
  const [a, c] = await createMembers(2);
  await a.write(async (tx) => {
    for (let i = 0; i < 30; i++) await tx.put('tag', { uuid: crypto.randomUUID(), name: `t${i}`, color: '' });
  });
  const inner = transportTo(a);
  let requests = 0;
  // Each request raises c's claims on tags at once, as another peer's batch would, and its
  // batches come only 300 ms later (or never, once it is cancelled): far later than a stream
  // asked again on every rise would be cancelled.
  const slow: SyncTransport = {
    handshake: (request) => inner.handshake(request),
    digest: (request) => inner.digest(request),
    async *streamState(request, signal) {
      requests += 1;
      c.notifyPrefixesRaised({ resourceType: 'tag', peerDeviceId: 'another-peer' });
      for await (const batch of inner.streamState(request, signal)) {
        await new Promise<void>((resolve) => {
          const late = setTimeout(resolve, 300);
          signal?.addEventListener('abort', () => (clearTimeout(late), resolve()), { once: true });
        });
        // As over gRPC: a cancelled call delivers nothing more.
        if (signal?.aborted) return;
        yield batch;
      }
    },
  };
  const events: SyncEvent[] = [];
  await lastValueFrom(
    syncFromPeer$(c, slow, { types: ['tag'], batchSize: 5, refilterEveryMs: 10 }).pipe(
      tap((event) => events.push(event)),
      // A generous bound: the pull needs a few seconds; a starved one never ends.
      takeUntil(timer(30_000)),
    ),
    { defaultValue: undefined },
  );
  const tags = events.filter((event) => event.kind === 'batch' && event.resourceType === 'tag');
  expect(tags.some((event) => event.kind === 'batch' && event.caughtUp)).toBe(true);
  const [held] = await c.db.read.query<{ n: number }>('SELECT count(*) AS n FROM tags');
  expect(held.n).toBe(30);
  // It was asked again along the way (the claims did rise), yet every request delivered.
  expect(requests).toBeGreaterThanOrEqual(2);
  await a.close();
  await c.close();
}, 90_000);
