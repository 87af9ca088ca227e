/**
 * A wrong clock never stalls a stream (docs/architecture.md, "Clocks"): rows stamped a day ahead
 * or a day behind are applied, a receiver's clock adopts them only up to the max drift, shared
 * rows resolve by last-writer-wins on their stamps as they are, and an edit made after seeing a
 * version wins over it everywhere, whatever the clocks.
 */
import { createLibrary, removeTempDirs, TestClock } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { digestsOf, syncUntilCut, transportTo } from './sync-helpers';
import { SyncEvent } from '../src/client';
import { DEFAULT_MAX_DRIFT_MS, decodeHlc } from '../src/hlc';
import { Library } from '../src/library';
import { DEVICE_OWNED, RESOURCE_NAMES } from '../src/resource-types';
import { writeSyntheticLibrary } from '../src/testing/synthetic';

const DAY_MS = 24 * 3_600_000;
const T0 = Date.UTC(2025, 9, 20, 14, 0, 0);
const TAG = fixedUuid(5, 1);

afterAll(removeTempDirs);

interface Device {
  readonly library: Library;
  readonly clock: TestClock;
}

async function devicesAt(offsets: readonly number[]): Promise<Device[]> {
  const devices: Device[] = [];
  for (const offset of offsets) {
    const clock = new TestClock(T0 + offset);
    const library = await createLibrary({
      clock: { now: clock.now },
      ...(devices.length ? { libraryId: devices[0].library.identity.libraryId } : {}),
    });
    devices.push({ library, clock });
  }
  return devices;
}

async function closeAll(devices: readonly Device[]): Promise<void> {
  for (const device of devices) await device.library.close();
}

/** Every clock moves on by `ms` together (each keeps its offset). */
function advance(devices: readonly Device[], ms: number): void {
  for (const device of devices) device.clock.advance(ms);
}

/** One pull that must end without a transport error and without any type failing. */
async function pull(client: Device, server: Device): Promise<SyncEvent[]> {
  const run = await syncUntilCut(client.library, transportTo(server.library), { batchSize: 40 });
  expect(run.error).toBeUndefined();
  expect(run.events.filter((event) => event.kind === 'type_failed')).toEqual([]);
  return run.events;
}

async function syncAll(devices: readonly Device[]): Promise<void> {
  for (let round = 0; round < 2; round++) {
    for (const client of devices)
      for (const server of devices) if (client !== server) await pull(client, server);
  }
}

async function expectConverged(devices: readonly Device[]): Promise<void> {
  const first = await digestsOf(devices[0].library);
  for (const device of devices.slice(1)) expect(await digestsOf(device.library)).toEqual(first);
}

/** How far a device's HLC is ahead of its own wall clock. */
const clockAheadMs = (device: Device) => device.library.clock.current.physicalMs - device.clock.ms;

async function tagOf(device: Device): Promise<{ name: string; hlc: string; origin: string } | undefined> {
  const [row] = await device.library.db.read.query<{ name: string; hlc: string; origin: string }>(
    'SELECT name, hlc, origin FROM tags WHERE uuid = ?',
    [TAG],
  );
  return row;
}

async function renameTag(device: Device, name: string): Promise<void> {
  await device.library.write((tx) => tx.put('tag', { uuid: TAG, name, color: '' }));
}

const beyondDrift = (events: readonly SyncEvent[]) =>
  events.reduce((sum, event) => sum + (event.kind === 'batch' ? event.beyondDrift : 0), 0);
const maxAhead = (events: readonly SyncEvent[]) =>
  Math.max(0, ...events.map((event) => (event.kind === 'batch' ? event.maxAheadMs : 0)));

describe.each([
  ['a day ahead', DAY_MS],
  ['ten minutes ahead', 10 * 60_000],
  ['a day behind', -DAY_MS],
])('a device whose clock is %s', (_label, offset) => {
  test('has its indexed rows applied by every peer, and no receiver clock adopts more than the max drift', async () => {
    const [correct, wrong, third] = await devicesAt([0, offset, 0]);
    try {
      await writeSyntheticLibrary(wrong.library, { volumes: 1, locations: 3, entries: 300, seed: 7 });
      await writeSyntheticLibrary(correct.library, { volumes: 1, locations: 2, entries: 100, seed: 8 });
      advance([correct, wrong, third], 1_000);

      const fromWrong = await pull(correct, wrong);
      // The wrong device's own rows: its device row, 1 volume, 3 locations, 300 entries.
      expect(beyondDrift(fromWrong)).toBe(offset > DEFAULT_MAX_DRIFT_MS ? 1 + 1 + 3 + 300 : 0);
      if (offset > DEFAULT_MAX_DRIFT_MS) expect(maxAhead(fromWrong)).toBeGreaterThanOrEqual(offset - 1_000);
      expect(clockAheadMs(correct)).toBeLessThanOrEqual(DEFAULT_MAX_DRIFT_MS);

      // The wrong device receives the correct one's rows (a day ahead of it when it is slow).
      const toWrong = await pull(wrong, correct);
      expect(beyondDrift(toWrong)).toBe(-offset > DEFAULT_MAX_DRIFT_MS ? 1 + 1 + 2 + 100 : 0);
      expect(clockAheadMs(wrong)).toBeLessThanOrEqual(DEFAULT_MAX_DRIFT_MS);

      // Relayed through the correct device to a third one, which never talks to the wrong one.
      await pull(third, correct);
      expect(clockAheadMs(third)).toBeLessThanOrEqual(DEFAULT_MAX_DRIFT_MS);
      await syncAll([correct, wrong, third]);
      await expectConverged([correct, wrong, third]);
      const digests = await digestsOf(third.library);
      expect(digests.entry.split('/')[0]).toBe('400');
      for (const name of DEVICE_OWNED) expect(digests[name]).toBe((await digestsOf(wrong.library))[name]);
    } finally {
      await closeAll([correct, wrong, third]);
    }
  });

  test('shares a tag with a correct device: concurrent edits go to the later stamp, an edit made after seeing the other wins', async () => {
    const [correct, wrong] = await devicesAt([0, offset]);
    try {
      await correct.library.write((tx) => tx.put('tag', { uuid: TAG, name: 'first', color: '' }));
      await syncAll([correct, wrong]);

      // Concurrent: each renames the tag without having seen the other's rename.
      advance([correct, wrong], 1_000);
      await renameTag(correct, 'by the correct device');
      await renameTag(wrong, 'by the wrong device');
      await syncAll([correct, wrong]);
      const concurrentWinner = offset > 0 ? 'by the wrong device' : 'by the correct device';
      expect((await tagOf(correct))?.name).toBe(concurrentWinner);
      expect((await tagOf(wrong))?.name).toBe(concurrentWinner);

      // After seeing the winner, the loser edits: its edit wins on both, whatever the clocks.
      const [later, other] = offset > 0 ? [correct, wrong] : [wrong, correct];
      const seen = (await tagOf(later))!;
      advance([correct, wrong], 1_000);
      await renameTag(later, 'after seeing it');
      const edited = (await tagOf(later))!;
      expect(edited.hlc > seen.hlc).toBe(true);
      // Stamped just above the version it replaced (the wrong clock's future stays on that row):
      // the clock of the device that made the edit did not move beyond its bound.
      expect(decodeHlc(edited.hlc).physicalMs - decodeHlc(seen.hlc).physicalMs).toBeLessThanOrEqual(1);
      expect(clockAheadMs(later)).toBeLessThanOrEqual(DEFAULT_MAX_DRIFT_MS);
      await syncAll([correct, wrong]);
      expect(await tagOf(other)).toEqual(edited);

      // A delete made after seeing that version wins too, and a rename after the delete brings it back.
      await other.library.write((tx) => tx.delete('tag', TAG));
      await syncAll([correct, wrong]);
      expect(await tagOf(later)).toBeUndefined();
      await renameTag(later, 'back');
      await syncAll([correct, wrong]);
      expect((await tagOf(other))?.name).toBe('back');
      await expectConverged([correct, wrong]);
    } finally {
      await closeAll([correct, wrong]);
    }
  });
});

test('the relay cascade: a node that adopted a stamp 4 minutes ahead still has its own new rows applied by a device 2 minutes slow', async () => {
  const [fast, relay, slow] = await devicesAt([4 * 60_000, 0, -2 * 60_000]);
  try {
    await fast.library.write((tx) => tx.put('tag', { uuid: TAG, name: 'fast', color: '' }));
    await pull(relay, fast);
    // Within the bound: adopted as it is.
    expect(clockAheadMs(relay)).toBeGreaterThanOrEqual(4 * 60_000 - 1);
    await writeSyntheticLibrary(relay.library, { volumes: 1, locations: 1, entries: 50, seed: 9 });
    // The relay's new rows are stamped 4 minutes ahead, 6 minutes ahead of the slow device.
    const events = await pull(slow, relay);
    expect(beyondDrift(events)).toBeGreaterThanOrEqual(1 + 1 + 50);
    expect(clockAheadMs(slow)).toBeLessThanOrEqual(DEFAULT_MAX_DRIFT_MS);
    await syncAll([fast, relay, slow]);
    await expectConverged([fast, relay, slow]);
    expect((await digestsOf(slow.library)).entry.split('/')[0]).toBe('50');
    for (const name of RESOURCE_NAMES) expect((await digestsOf(slow.library))[name]).not.toBe('');
  } finally {
    await closeAll([fast, relay, slow]);
  }
});
