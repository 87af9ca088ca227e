/**
 * `Library.applied$` reports every batch that committed, also one whose apply was in flight
 * when the sync's subscriber went away: the sync's own events cannot carry it (a node's
 * metrics, counted from those events, missed such batches for good when a session restarted
 * mid-apply, and a hub failover test waited forever for rows the device already held).
 */
import { AppliedBatch, Library, SyncEvent, syncFromPeer$ } from '../src';
import { createMembers, removeTempDirs } from './fixtures';
import { countOf } from './scenario-helpers';
import { transportTo } from './sync-helpers';

afterAll(removeTempDirs);

async function writeTags(library: Library, count: number): Promise<void> {
  await library.write(async (tx) => {
    for (let i = 0; i < count; i++)
      await tx.put('tag', { uuid: crypto.randomUUID(), name: `t${i}`, color: '' });
  });
}

test('a batch that commits after its sync was unsubscribed is reported on applied$, not lost', async () => {
  const [a, b] = await createMembers(2);
  await writeTags(a, 10);
  const applied: AppliedBatch[] = [];
  const reported: SyncEvent[] = [];
  b.applied$.subscribe((batch) => applied.push(batch));

  let commits = 0;
  let ended!: () => void;
  const unsubscribed = new Promise<void>((resolve) => (ended = resolve));
  const subscription = syncFromPeer$(b, transportTo(a), { types: ['tag'], batchSize: 2 }).subscribe({
    next: (event) => reported.push(event),
  });
  // The second batch's commit: the apply has written it, and the sync has not yet reported it.
  // Unsubscribing now is a session restarting at exactly that moment.
  const watch = b.commits$.subscribe(() => {
    commits += 1;
    if (commits === 2) {
      subscription.unsubscribe();
      ended();
    }
  });
  await unsubscribed;
  // Let the apply's own continuation run (it would report to a subscriber, and finds none).
  await new Promise((resolve) => setTimeout(resolve, 50));
  watch.unsubscribe();

  const batchEvents = reported.filter((event) => event.kind === 'batch');
  const stored = await countOf(b, 'tag');
  // The scenario is the one claimed: the sync's events miss a batch that is stored.
  expect(batchEvents.reduce((sum, event) => sum + event.written, 0)).toBeLessThan(stored);
  // applied$ saw every committed batch, with its peer and type.
  expect(applied.reduce((sum, batch) => sum + batch.written, 0)).toBe(stored);
  expect(applied.reduce((sum, batch) => sum + batch.received, 0)).toBe(stored);
  expect(new Set(applied.map((batch) => batch.peerDeviceId))).toEqual(new Set([a.identity.deviceId]));
  expect(new Set(applied.map((batch) => batch.resourceType))).toEqual(new Set(['tag']));
});

test('applied$ reports each batch of an uninterrupted sync once, as the sync reports it', async () => {
  const [a, b] = await createMembers(2);
  await writeTags(a, 9);
  const applied: AppliedBatch[] = [];
  b.applied$.subscribe((batch) => applied.push(batch));
  const reported: SyncEvent[] = [];
  await new Promise<void>((resolve, reject) =>
    syncFromPeer$(b, transportTo(a), { types: ['tag'], batchSize: 2 }).subscribe({
      next: (event) => reported.push(event),
      error: reject,
      complete: resolve,
    }),
  );
  const batchEvents = reported.flatMap((event) => (event.kind === 'batch' ? [event] : []));
  expect(applied.map((batch) => [batch.received, batch.written, batch.watermarkSeq])).toEqual(
    batchEvents.map((event) => [event.received, event.written, event.watermarkSeq]),
  );
  expect(applied.reduce((sum, batch) => sum + batch.written, 0)).toBe(9);
});
