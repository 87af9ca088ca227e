/**
 * A write that commits on A while B is in the middle of its backfill is picked up: by the next
 * sync, or, in follow mode, by the live stream without any new sync.
 */
import { ResourceType } from '@tidemark/proto';
import { concatMap, filter, firstValueFrom, merge, of, Subscription, timeout } from 'rxjs';
import { TestClock, twoDevicesForEachTest } from './fixtures';
import { fixedUuid, hasRow, HookedTransport, lostRows } from './scenario-helpers';
import { syncUntilCut, transportTo } from './sync-helpers';
import { SyncEvent, syncFromPeer$ } from '../src/client';
import { Library } from '../src/library';
import { writeSyntheticLibrary } from '../src/testing/synthetic';

const BATCH = 500;
const NEW_VOLUME = fixedUuid(1, 99);
const NEW_TAG = fixedUuid(5, 99);

let a: Library;
let b: Library;
let clock: TestClock;
twoDevicesForEachTest((x, y, c) => ([a, b, clock] = [x, y, c]), { steppingClock: true });

beforeEach(async () => {
  await writeSyntheticLibrary(a, { volumes: 3, locations: 5, entries: 3_000, entriesPerTransaction: 1_000 });
});

/**
 * A transport on which A commits, right after B applied its 2nd entry batch: a new volume (a type
 * B's backfill has already passed), a renamed location (also passed), a new entry and an updated
 * entry (the type in progress) and a new tag (a type still to come).
 */
function transportWithMidBackfillWrite(): {
  transport: HookedTransport;
  written: () => boolean;
  newEntry: string;
} {
  let entryBatches = 0;
  let done = false;
  const newEntry = fixedUuid(3, 99);
  const transport = new HookedTransport(transportTo(a), {
    afterBatch: async (batch) => {
      if (batch.resourceType !== ResourceType.RESOURCE_TYPE_ENTRY || ++entryBatches !== 2) return;
      const device = a.identity.deviceId;
      const [location] = await a.db.read.query<{ uuid: string; volume_uuid: string }>(
        'SELECT uuid, volume_uuid FROM locations ORDER BY seq LIMIT 1',
      );
      const [entry] = await a.db.read.query<{ uuid: string; location_uuid: string }>(
        'SELECT uuid, location_uuid FROM entries ORDER BY seq LIMIT 1',
      );
      clock.advance(1_000);
      await a.write(async (tx) => {
        await tx.put('volume', {
          uuid: NEW_VOLUME,
          deviceUuid: device,
          name: 'USB stick',
          mountPoint: '/media/usb',
          filesystem: 'exfat',
          capacityBytes: 64e9,
        });
        await tx.put('location', {
          uuid: location.uuid,
          deviceUuid: device,
          volumeUuid: location.volume_uuid,
          path: '/renamed',
          name: 'Renamed',
        });
        for (const uuid of [newEntry, entry.uuid]) {
          await tx.put('entry', {
            uuid,
            deviceUuid: device,
            locationUuid: entry.location_uuid,
            parentUuid: '',
            relativePath: `written-mid-backfill-${uuid}`,
            kind: 1,
            sizeBytes: 1,
            modifiedAtMs: 1,
            contentUuid: '',
          });
        }
        await tx.put('tag', { uuid: NEW_TAG, name: 'mid-backfill', color: '' });
      });
      done = true;
    },
  });
  return { transport, written: () => done, newEntry };
}

test('a write committed while B is mid-backfill is picked up by the next sync', async () => {
  const { transport, written, newEntry } = transportWithMidBackfillWrite();
  const first = await syncUntilCut(b, transport, { batchSize: BATCH });
  expect(first.error).toBeUndefined();
  expect(written()).toBe(true);
  // The types still in progress or to come already carry the write; the passed ones do not yet.
  expect([await hasRow(b, 'entry', newEntry), await hasRow(b, 'tag', NEW_TAG)]).toEqual([true, true]);
  expect(await hasRow(b, 'volume', NEW_VOLUME)).toBe(false);
  expect(await lostRows(a, b)).toEqual({ volume: 1, location: 1 });

  const next = await syncUntilCut(b, transportTo(a), { batchSize: BATCH });
  expect(next.error).toBeUndefined();
  expect(await hasRow(b, 'volume', NEW_VOLUME)).toBe(true);
  expect(await lostRows(a, b)).toEqual({});
});

test('a write committed while B is mid-backfill is picked up in follow mode, without a new sync', async () => {
  const { transport, written } = transportWithMidBackfillWrite();
  const events: SyncEvent[] = [];
  let failure: unknown;
  let subscription: Subscription | undefined;
  try {
    subscription = syncFromPeer$(b, transport, { batchSize: BATCH, follow: true }).subscribe({
      next: (event) => events.push(event),
      error: (error: unknown) => (failure = error),
    });
    // Re-check B whenever it commits, until it holds everything A has, the mid-backfill write included.
    await firstValueFrom(
      merge(of(0), b.commits$).pipe(
        concatMap(async () => Object.keys(await lostRows(a, b)).length === 0),
        filter(Boolean),
        timeout({ first: 20_000 }),
      ),
    );
  } finally {
    subscription?.unsubscribe();
  }
  expect(failure).toBeUndefined();
  expect(written()).toBe(true);
  expect(events.some((e) => e.kind === 'backfilled')).toBe(true);
  expect(
    events.some(
      (e) => e.kind === 'batch' && e.phase === 'follow' && e.resourceType === 'volume' && e.written === 1,
    ),
  ).toBe(true);
  expect(await hasRow(b, 'volume', NEW_VOLUME)).toBe(true);
  // Let the follow streams wind down before the libraries close.
  await new Promise((resolve) => setTimeout(resolve, 100));
});
