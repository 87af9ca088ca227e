/**
 * A follow stream pauses while the node backfills its type from another peer (BackfillGate,
 * docs/architecture.md "Backfill order across peers"): what the followed relay passes on of the
 * origin being backfilled would otherwise cross twice, since no claim on that origin exists
 * before the backfill caught up. Asked again after it, the relay leaves those rows out.
 */
import { BackfillGate, SyncEvent, syncFromPeer$ } from '../src';
import { Library } from '../src/library';
import { resourceTypeOf } from '../src/resource-types';
import { SyncTransport } from '../src/transport';
import { createMembers, removeTempDirs } from './fixtures';
import { pull, syncUntilCut, transportTo } from './sync-helpers';

afterAll(removeTempDirs);

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return check();
}

/** A transport to `server` whose first tag batch waits for `release`. */
function heldAtFirstTagBatch(server: Library) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let reached!: () => void;
  const atBatch = new Promise<void>((resolve) => (reached = resolve));
  const inner = transportTo(server);
  let first = true;
  const transport: SyncTransport = {
    handshake: (request) => inner.handshake(request),
    digest: (request) => inner.digest(request),
    async *streamState(request, signal) {
      for await (const batch of inner.streamState(request, signal)) {
        if (first && batch.resourceType === resourceTypeOf('tag')) {
          first = false;
          reached();
          await released;
        }
        yield batch;
      }
    },
  };
  return { transport, release, atBatch };
}

const tagRowsFrom = (events: readonly SyncEvent[]) =>
  events.reduce((sum, e) => sum + (e.kind === 'batch' && e.resourceType === 'tag' ? e.received : 0), 0);

test('rows a followed relay passes on while the node backfills their origin directly cross once', async () => {
  const [a, b, c] = await createMembers(3);
  const gate = new BackfillGate(60_000);
  const fromB: SyncEvent[] = [];
  const following = syncFromPeer$(c, transportTo(b), {
    follow: true,
    backfillGate: gate,
    batchSize: 10,
  }).subscribe((event) => fromB.push(event));
  try {
    expect(await until(() => fromB.some((e) => e.kind === 'backfilled'), 10_000)).toBe(true);
    await a.write(async (tx) => {
      for (let i = 0; i < 50; i++)
        await tx.put('tag', { uuid: crypto.randomUUID(), name: `a-${i}`, color: '' });
    });
    const slowA = heldAtFirstTagBatch(a);
    const pullingA = syncUntilCut(c, slowA.transport, { backfillGate: gate, batchSize: 10 });
    await slowA.atBatch;
    // B takes A's rows while C's backfill of tags from A is under way: B would relay them at once.
    await pull(b, a);
    // Paused, C's stream from B brings nothing; a follow that ran would bring them within ms.
    await until(() => tagRowsFrom(fromB) > 0, 1_000);
    expect(tagRowsFrom(fromB)).toBe(0);
    slowA.release();
    expect((await pullingA).error).toBeUndefined();
    // Asked again with the claims the backfill from A established: B leaves A's rows out.
    expect(
      await until(
        () => fromB.some((e) => e.kind === 'batch' && e.resourceType === 'tag' && e.heldSkipped > 0),
        10_000,
      ),
    ).toBe(true);
    expect(tagRowsFrom(fromB)).toBe(0);
  } finally {
    following.unsubscribe();
  }
  await a.close();
  await b.close();
  await c.close();
});
