/**
 * Each batch event counts, per origin device, the rows received and the rows written: in a mesh
 * that names the relay passing on an origin's rows the device already held.
 */
import { Library } from '../src/library';
import { SyncEvent } from '../src';
import { createLibrary, removeTempDirs } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { syncOnce } from './sync-helpers';

afterAll(() => removeTempDirs());

async function putTags(library: Library, from: number, to: number): Promise<void> {
  await library.write(async (tx) => {
    for (let i = from; i < to; i++)
      await tx.put('tag', { uuid: fixedUuid(5, i), name: `tag ${i}`, color: '' });
  });
}

/** Tags received and written per origin over a sync's batch events. */
function tagsByOrigin(events: readonly SyncEvent[]): Map<string, { received: number; written: number }> {
  const totals = new Map<string, { received: number; written: number }>();
  for (const event of events) {
    if (event.kind !== 'batch' || event.resourceType !== 'tag') continue;
    let received = 0;
    for (const [origin, counts] of event.byOrigin) {
      const total = totals.get(origin) ?? { received: 0, written: 0 };
      totals.set(origin, {
        received: total.received + counts.received,
        written: total.written + counts.written,
      });
      received += counts.received;
    }
    // Every row of the batch is counted under exactly one origin.
    expect(received).toBe(event.received);
  }
  return totals;
}

test('a relay passing on rows already held shows as received but not written, under their origin', async () => {
  const a = await createLibrary();
  const b = await createLibrary({ libraryId: a.identity.libraryId });
  const c = await createLibrary({ libraryId: a.identity.libraryId });
  try {
    await putTags(a, 0, 7);
    await syncOnce(b, a);
    await putTags(b, 100, 103);
    // C takes A's tags directly, then everything B has, without claims (so B sends A's again).
    const direct = tagsByOrigin(await syncOnce(c, a));
    expect(direct.get(a.identity.deviceId)).toEqual({ received: 7, written: 7 });
    const relayed = tagsByOrigin(await syncOnce(c, b, { originFilter: false }));
    expect(relayed.get(a.identity.deviceId)).toEqual({ received: 7, written: 0 });
    expect(relayed.get(b.identity.deviceId)).toEqual({ received: 3, written: 3 });
    expect(relayed.size).toBe(2);
  } finally {
    for (const library of [a, b, c]) await library.close();
  }
});
