/**
 * Removal through signed membership, with real libraries syncing in process: a removal made on
 * one device reaches the others by sync (membership first); the removed device's rows written
 * before its removal are history everywhere; rows it wrote after are skipped, never a reason to
 * stall a type, even when an honest relay took them before it learned of the removal; rows of a
 * device that never was a member reject their batch.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { applyBatch } from '../src/apply';
import { isTidemarkError } from '../src/errors';
import { encodeHlc } from '../src/hlc';
import { checkLibraryHealth } from '../src/reads/health';
import { Library } from '../src/library';
import { readMembershipChanges, signMemberAdd, signMemberRemove } from '../src/membership/membership-writes';
import { readSkippedRows } from '../src/membership/skipped-rows';
import { SyncEvent } from '../src/client';
import { makeDeviceKey } from './device-keys';
import { removeTempDirs, STORE_UNDER_TEST } from './fixtures';
import {
  activeIds,
  admitThrough,
  batchOf,
  Device,
  foundLibrary,
  memberStates,
  snapshotOf,
} from './membership-helpers';
import { TickingClock } from './scenario-helpers';
import { digestsOf, syncOnce } from './sync-helpers';

afterAll(removeTempDirs);

let clock: TickingClock;
let devices: Device[];
const options = () => ({ clock: { now: clock.now } });

beforeEach(() => {
  clock = new TickingClock();
  devices = [];
});

afterEach(async () => {
  for (const device of devices) await device.library.close();
});

async function found(): Promise<Device> {
  const device = await foundLibrary(options());
  devices.push(device);
  return device;
}

async function admit(inviter: Device, label: string): Promise<Device> {
  const device = await admitThrough(inviter, options(), label);
  devices.push(device);
  return device;
}

async function writeTag(device: Device, name: string): Promise<string> {
  const uuid = randomUUID();
  await device.library.write((tx) => tx.put('tag', { uuid, name, color: '' }));
  return uuid;
}

async function writeVolume(device: Device, name: string): Promise<string> {
  const uuid = randomUUID();
  await device.library.write((tx) =>
    tx.put('volume', {
      uuid,
      deviceUuid: device.id,
      name,
      mountPoint: '/',
      filesystem: 'ext4',
      capacityBytes: 1,
    }),
  );
  return uuid;
}

const failures = (events: readonly SyncEvent[]) => events.filter((event) => event.kind === 'type_failed');
const skippedAfterRemoval = (events: readonly SyncEvent[]) =>
  events.reduce((sum, event) => sum + (event.kind === 'batch' ? event.skippedAfterRemoval : 0), 0);

async function heldTags(library: Library): Promise<string[]> {
  const rows = await library.db.read.query<{ name: string }>('SELECT name FROM tags ORDER BY name');
  return rows.map((row) => row.name);
}

test('a removal reaches every member by sync; the removed device cannot feed them any more', async () => {
  const a = await found();
  const b = await admit(a, 'b');
  const c = await admit(a, 'c');
  for (const device of [b, c]) await syncOnce(device.library, a.library);
  expect(await activeIds(b.library)).toEqual([a.id, b.id, c.id].sort());

  expect(await signMemberRemove(b.library, b.key.signer, c.id)).toBe(true);
  expect(await signMemberRemove(b.library, b.key.signer, c.id)).toBe(false); // already removed
  await syncOnce(a.library, b.library, { types: ['membership'] });
  for (const library of [a.library, b.library]) {
    expect(await memberStates(library)).toEqual({ [a.id]: 'active', [b.id]: 'active', [c.id]: 'refused' });
  }
  // C's own view is still the old one until it syncs with a member that knows; it cannot feed A.
  await expect(syncOnce(a.library, c.library)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  // A removed device stays removed: no member can add it again.
  await expect(signMemberAdd(a.library, a.key.signer, c.key.certificateDer, 'c again')).rejects.toMatchObject(
    {
      code: 'FAILED_PRECONDITION',
    },
  );
});

test('doctor: a removed device that has its removal reports it as a problem, naming who removed it', async () => {
  const a = await found();
  const b = await admit(a, 'b');
  await syncOnce(b.library, a.library);
  const removal = (library: Library) =>
    checkLibraryHealth(library).then((findings) => findings.filter((f) => f.kind === 'removed_device'));
  expect(await removal(b.library)).toEqual([]);

  expect(await signMemberRemove(a.library, a.key.signer, b.id)).toBe(true);
  expect(await removal(a.library)).toEqual([]); // the remover is not the removed
  expect(await removal(b.library)).toEqual([]); // not heard of yet
  await syncOnce(b.library, a.library, { types: ['membership'] });
  expect(await removal(b.library)).toEqual([
    {
      kind: 'removed_device',
      severity: 'problem',
      removedAtMs: expect.any(Number),
      removedBy: a.id,
      removedByName: expect.any(String),
      voided: false,
    },
  ]);
});

test('doctor: a device admitted only by a void ADD is told it never was a member', async () => {
  const a = await found();
  const b = await admit(a, 'b');
  await syncOnce(b.library, a.library);
  await signMemberRemove(a.library, a.key.signer, b.id);
  // B, not knowing, admits D: a void ADD once A's removal of B is known.
  const d = await admit(b, 'd');
  await syncOnce(d.library, b.library, { types: ['membership'] });
  await syncOnce(d.library, a.library, { types: ['membership'] });
  const findings = await checkLibraryHealth(d.library);
  expect(findings.filter((f) => f.kind === 'removed_device')).toEqual([
    expect.objectContaining({ kind: 'removed_device', removedBy: '', voided: true }),
  ]);
});

test("a removed member's earlier rows stay history everywhere; its later rows are skipped without stalling, even through an honest relay", async () => {
  const a = await found();
  const b = await admit(a, 'b');
  const c = await admit(a, 'c');
  for (const device of [b, c]) await syncOnce(device.library, a.library);
  await writeTag(c, 'c before removal');
  await writeVolume(c, 'c volume before removal');

  await signMemberRemove(b.library, b.key.signer, c.id);
  await writeTag(c, 'c after removal');
  await writeVolume(c, 'c volume after removal');

  // A has not heard of the removal: it takes everything C wrote, as an honest relay does.
  expect(failures(await syncOnce(a.library, c.library))).toEqual([]);
  expect(await heldTags(a.library)).toEqual(['c after removal', 'c before removal']);

  // B knows: through A it takes C's history and skips C's later rows, and no type stalls.
  const events = await syncOnce(b.library, a.library);
  expect(failures(events)).toEqual([]);
  expect(skippedAfterRemoval(events)).toBe(2);
  expect(await heldTags(b.library)).toEqual(['c before removal']);
  expect(await readSkippedRows(b.library)).toEqual([
    // Sent by the relay A, written by C: doctor names both.
    expect.objectContaining({
      peerDeviceId: a.id,
      originDeviceId: c.id,
      resourceType: 'tag',
      reason: 'after_removal',
      rows: 1,
    }),
    expect.objectContaining({
      peerDeviceId: a.id,
      originDeviceId: c.id,
      resourceType: 'volume',
      reason: 'after_removal',
      rows: 1,
    }),
  ]);
  // Caught up: a second sync receives nothing new and skips nothing again.
  const again = await syncOnce(b.library, a.library);
  expect(again.filter((event) => event.kind === 'batch' && event.received > 0)).toEqual([]);

  // A new device joins through B after the removal and backfills every type from A without a stall.
  const e = await admit(b, 'e');
  expect(failures(await syncOnce(e.library, b.library))).toEqual([]);
  const fromA = await syncOnce(e.library, a.library);
  expect(failures(fromA)).toEqual([]);
  expect(await heldTags(e.library)).toEqual(['c before removal']);
  await syncOnce(b.library, e.library);
  expect(await digestsOf(e.library)).toEqual(await digestsOf(b.library));
});

test("a removed member's changes after its removal are stored as void: they change nothing and stall nothing", async () => {
  const a = await found();
  const b = await admit(a, 'b');
  const c = await admit(a, 'c');
  for (const device of [b, c]) await syncOnce(device.library, a.library);
  await signMemberRemove(b.library, b.key.signer, c.id);
  // C, not knowing, admits a device and removes B: both after its own removal.
  const d = makeDeviceKey('d');
  await signMemberAdd(c.library, c.key.signer, d.certificateDer, 'd');
  await signMemberRemove(c.library, c.key.signer, b.id);

  // Through an honest relay that took C's changes before the removal reached it.
  const relay = await admit(a, 'relay');
  await syncOnce(relay.library, c.library, { types: ['membership'] });
  await syncOnce(relay.library, a.library, { types: ['membership'] });
  await syncOnce(b.library, a.library, { types: ['membership'] }); // B learns of the relay
  const events = await syncOnce(b.library, relay.library, { types: ['membership'] });
  expect(failures(events)).toEqual([]);

  const changes = await readMembershipChanges(b.library);
  expect(changes.map((change) => change.subject)).toEqual(expect.arrayContaining([d.deviceId]));
  expect(await memberStates(b.library)).toEqual({
    [a.id]: 'active',
    [b.id]: 'active',
    [c.id]: 'refused',
    [relay.id]: 'active',
    [d.deviceId]: 'refused', // admitted only by a void ADD: never a member
  });
  expect(await activeIds(b.library)).not.toContain(d.deviceId);
});

test('rows of a device that never was a member reject their batch: nothing is stored and the watermark stays', async () => {
  const a = await found();
  const b = await admit(a, 'b');
  await syncOnce(b.library, a.library);
  const stranger = makeDeviceKey('stranger').deviceId;
  const before = await snapshotOf(b.library, a.id);
  const hlc = { physicalMs: clock.now(), logical: 0 };
  for (const batch of [
    batchOf(
      'volume',
      [
        {
          uuid: randomUUID(),
          deviceUuid: stranger,
          name: 'forged',
          mountPoint: '/',
          filesystem: 'ext4',
          capacityBytes: 1,
          hlc,
          origin: stranger,
        },
      ],
      a.library.identity.epoch,
      900,
    ),
    batchOf(
      'tag',
      [{ uuid: randomUUID(), name: 'forged', color: '', hlc, origin: stranger }],
      a.library.identity.epoch,
      900,
    ),
  ]) {
    const error = await applyBatch(b.library, a.id, batch).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTidemarkError(error) && error.code).toBe('FORBIDDEN_ROWS');
  }
  expect(await snapshotOf(b.library, a.id)).toEqual(before);
});

test('a row of a removed member stamped before its removal is applied, one stamped at or after it is skipped and counted', async () => {
  const a = await found();
  const b = await admit(a, 'b');
  const c = await admit(a, 'c');
  await syncOnce(b.library, a.library);
  const early = encodeHlc({ physicalMs: clock.now(), logical: 0 });
  await signMemberRemove(b.library, b.key.signer, c.id);
  const [removal] = (await readMembershipChanges(b.library)).slice(-1);
  const tag = (name: string, hlc: string) => ({
    uuid: randomUUID(),
    name,
    color: '',
    hlc: { physicalMs: parseInt(hlc.slice(0, 12), 16), logical: parseInt(hlc.slice(12), 16) },
    origin: c.id,
  });
  const result = await applyBatch(
    b.library,
    a.id,
    batchOf(
      'tag',
      [
        tag('history', early),
        tag('at removal', removal.hlc),
        tag('later', encodeHlc({ physicalMs: clock.now(), logical: 0 })),
      ],
      a.library.identity.epoch,
      7,
    ),
  );
  expect(result).toMatchObject({ received: 3, written: 1, skippedAfterRemoval: 2, watermarkSeq: 7 });
  expect(await heldTags(b.library)).toEqual(['history']);
});

/** A restore by file copy: SQLite's files only (a hub is restored by PostgreSQL's own tools). */
const sqliteTest = STORE_UNDER_TEST === 'sqlite' ? test : test.skip;

sqliteTest(
  'a member restored from a backup takes back the REMOVE it signed, so it derives the same members as everyone',
  async () => {
    const a = await found();
    const b = await admitThrough(a, options(), 'b');
    const c = await admit(a, 'c');
    for (const device of [b, c]) await syncOnce(device.library, a.library, { types: ['membership'] });
    // A backup of B's library, from before B removes C.
    const file = b.library.file;
    await b.library.close();
    fs.copyFileSync(file, `${file}.backup`);
    let restored = await Library.open(file, options());
    expect(await signMemberRemove(restored, b.key.signer, c.id)).toBe(true);
    await syncOnce(a.library, restored, { types: ['membership'] });
    expect(await memberStates(a.library)).toMatchObject({ [c.id]: 'refused' });
    // B's disk fails: its library comes back from the backup, and B syncs with A again. The
    // REMOVE is in B's own name, signed by B's key: skipped as an own row, B kept C active.
    await restored.close();
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
    fs.copyFileSync(`${file}.backup`, file);
    restored = await Library.open(file, options());
    devices.push({ ...b, library: restored });
    await syncOnce(restored, a.library);
    await syncOnce(restored, a.library);
    expect(await memberStates(restored)).toEqual(await memberStates(a.library));
  },
);
