/**
 * Libraries paired before membership was signed move to signed membership without pairing
 * again: each device, on its first start with its key, signs a legacy ADD of itself and an ADD
 * of every member it trusted locally. The three-device case: B joined through A, C
 * joined through B; A never heard of C, so C's rows relayed by B were refused at A. After the
 * bridge every device knows every member, and C's rows reach A through B.
 */
import { randomUUID } from 'node:crypto';
import { toPem } from '../src/membership/self-signed-certificate';
import { addMembers, removeMember } from '../src/membership/members';
import { migrateLegacyMembers, readMembershipChanges } from '../src/membership/membership-writes';
import { applyBatch } from '../src/apply';
import { SyncEvent } from '../src/client';
import { DeviceKey, makeDeviceKey } from './device-keys';
import { createLibrary, removeTempDirs } from './fixtures';
import { activeIds, changesBatch, Device, snapshotOf } from './membership-helpers';
import { TickingClock } from './scenario-helpers';
import { digestsOf, syncOnce } from './sync-helpers';
import { signChange } from '../src/membership/signed-change';
import { MembershipAction } from '@tidemark/proto';
import { encodeHlc } from '../src/hlc';

afterAll(removeTempDirs);

let clock: TickingClock;
let devices: Device[];

beforeEach(() => {
  clock = new TickingClock();
  devices = [];
});

afterEach(async () => {
  for (const device of devices) await device.library.close();
});

async function legacyDevice(libraryId?: string): Promise<Device> {
  const key = makeDeviceKey('legacy');
  const library = await createLibrary({ libraryId, deviceId: key.deviceId, clock: { now: clock.now } });
  const device = { library, key, id: key.deviceId };
  devices.push(device);
  return device;
}

/** What pairing recorded before signed membership: a local `members` row, on one device only. */
async function trustLocally(device: Device, other: DeviceKey): Promise<void> {
  await addMembers(device.library, [
    {
      deviceId: other.deviceId,
      fingerprint: other.fingerprint,
      certificatePem: toPem('CERTIFICATE', other.certificateDer),
      name: 'paired',
      addedBy: device.id,
    },
  ]);
}

async function writeTag(device: Device, name: string): Promise<void> {
  await device.library.write((tx) => tx.put('tag', { uuid: randomUUID(), name, color: '' }));
}

const failures = (events: readonly SyncEvent[]) =>
  events.flatMap((event) =>
    event.kind === 'type_failed' ? [`${event.resourceType}: ${event.error.code}`] : [],
  );

test('three devices paired in a chain before signed membership all end with every member, without pairing again', async () => {
  const a = await legacyDevice();
  const b = await legacyDevice(a.library.identity.libraryId);
  const c = await legacyDevice(a.library.identity.libraryId);
  // B joined through A; C joined through B, which sent the members it knew (A).
  await trustLocally(a, b.key);
  await trustLocally(b, a.key);
  await trustLocally(b, c.key);
  await trustLocally(c, b.key);
  await trustLocally(c, a.key);
  await writeTag(c, 'written on c');
  await syncOnce(b.library, c.library);
  // Before the bridge, A refuses C's device-owned rows relayed by B: the symptom.
  expect(failures(await syncOnce(a.library, b.library))).toContain('device: FORBIDDEN_ROWS');

  // Each device bridges on its first start with its key, before it syncs.
  expect(await migrateLegacyMembers(a.library, a.key.signer)).toBe(2); // itself and B
  expect(await migrateLegacyMembers(a.library, a.key.signer)).toBe(0); // once
  expect(await migrateLegacyMembers(b.library, b.key.signer)).toBe(3); // itself, A and C
  expect(await migrateLegacyMembers(c.library, c.key.signer)).toBe(3); // itself, A and B
  expect(failures(await syncOnce(b.library, a.library))).toEqual([]);
  expect(failures(await syncOnce(b.library, c.library))).toEqual([]);
  expect(failures(await syncOnce(c.library, b.library))).toEqual([]);
  // A has never heard of C: B's ADD of C, in the same batch as C's own legacy ADD, vouches for it.
  expect(failures(await syncOnce(a.library, b.library))).toEqual([]);
  for (const device of [a, b, c]) {
    expect(await activeIds(device.library)).toEqual([a.id, b.id, c.id].sort());
  }
  const tags = await a.library.db.read.query<{ name: string }>('SELECT name FROM tags');
  expect(tags.map((tag) => tag.name)).toEqual(['written on c']);
  await syncOnce(c.library, a.library);
  const digests = await digestsOf(a.library);
  expect(await digestsOf(b.library)).toEqual(digests);
  expect(await digestsOf(c.library)).toEqual(digests);
  expect((await readMembershipChanges(a.library)).filter((change) => change.legacy)).toHaveLength(3);
});

test('a legacy self-signed ADD is accepted only for a device this library trusted or holds a device row of', async () => {
  const a = await legacyDevice();
  const b = await legacyDevice(a.library.identity.libraryId);
  await trustLocally(b, a.key);
  const stranger = makeDeviceKey('stranger');
  const legacyAddOf = (key: DeviceKey) =>
    signChange(a.library.identity.libraryId, key.signer, {
      action: MembershipAction.MEMBERSHIP_ACTION_ADD,
      subject: key.deviceId,
      subjectFingerprint: key.fingerprint,
      certificate: key.certificateDer,
      name: '',
      legacy: true,
      signer: key.deviceId,
      hlc: encodeHlc({ physicalMs: clock.now(), logical: 0 }),
    });
  const epoch = a.library.identity.epoch;
  const before = await snapshotOf(b.library, a.id);
  await expect(
    applyBatch(b.library, a.id, changesBatch([legacyAddOf(stranger)], epoch, 3)),
  ).rejects.toMatchObject({
    code: 'FORBIDDEN_ROWS',
  });
  expect(await snapshotOf(b.library, a.id)).toEqual(before);
  await expect(
    applyBatch(b.library, a.id, changesBatch([legacyAddOf(a.key)], epoch, 3)),
  ).resolves.toMatchObject({
    written: 1,
  });
  expect(await activeIds(b.library)).toEqual([a.id]);
});

test("a member removed locally before the bridge stays removed, though another member's bridge still vouches for it", async () => {
  const a = await legacyDevice();
  const b = await legacyDevice(a.library.identity.libraryId);
  const m = await legacyDevice(a.library.identity.libraryId);
  for (const [device, others] of [
    [a, [b, m]],
    [b, [a, m]],
    [m, [a, b]],
  ] as const) {
    for (const other of others) await trustLocally(device, other.key);
  }
  await writeTag(m, 'written by m while a member');
  await syncOnce(b.library, m.library);
  await removeMember(a.library, m.id); // local, as removal was before signed membership

  expect(await migrateLegacyMembers(a.library, a.key.signer)).toBe(4); // itself, B, M added and removed
  expect(await migrateLegacyMembers(b.library, b.key.signer)).toBe(3); // itself, A, M
  expect(failures(await syncOnce(b.library, a.library))).toEqual([]);
  expect(failures(await syncOnce(a.library, b.library))).toEqual([]);
  for (const device of [a, b]) expect(await activeIds(device.library)).toEqual([a.id, b.id].sort());
  // What M wrote before is history at A too; M itself can no longer feed B.
  const tags = await a.library.db.read.query<{ name: string }>('SELECT name FROM tags');
  expect(tags.map((tag) => tag.name)).toEqual(['written by m while a member']);
  await expect(syncOnce(b.library, m.library)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
});
