/**
 * Owner invariants of device-owned rows, enforced by applyBatch whatever a member relays: the
 * owner of a device-owned uuid never changes; a tombstone of a device-owned row is accepted only
 * from its owner; a device never takes rows of its own identity that it does not hold at that
 * version (they are skipped and counted, the type does not stall), unless it adopts them
 * explicitly after a restore. A takeover rejects its batch: nothing is stored, the watermark
 * stays.
 */
import { randomUUID } from 'node:crypto';
import { Volume } from '@tidemark/proto';
import { applyBatch } from '../src/apply';
import { isTidemarkError } from '../src/errors';
import { readSkippedRows } from '../src/membership/skipped-rows';
import { createMembers, removeTempDirs } from './fixtures';
import { admitThrough, batchOf, Device, foundLibrary, snapshotOf } from './membership-helpers';
import { TickingClock } from './scenario-helpers';
import { syncOnce } from './sync-helpers';

afterAll(removeTempDirs);

let clock: TickingClock;
let a: Device;
let b: Device;
let c: Device;

beforeEach(async () => {
  clock = new TickingClock();
  const options = { clock: { now: clock.now } };
  a = await foundLibrary(options);
  b = await admitThrough(a, options, 'b');
  c = await admitThrough(a, options, 'c');
  for (const device of [b, c]) await syncOnce(device.library, a.library);
});

afterEach(async () => {
  for (const device of [a, b, c]) await device.library.close();
});

const stamp = () => ({ physicalMs: clock.now(), logical: 0 });

function volume(owner: string, uuid: string = randomUUID(), name = 'disk'): Volume {
  return {
    uuid,
    deviceUuid: owner,
    name,
    mountPoint: '/',
    filesystem: 'ext4',
    capacityBytes: 1,
    hlc: stamp(),
    origin: owner,
  };
}

/** A's volume, written by A and synced to B. */
async function volumeOfA(): Promise<string> {
  const uuid = randomUUID();
  await a.library.write((tx) =>
    tx.put('volume', {
      uuid,
      deviceUuid: a.id,
      name: 'a',
      mountPoint: '/',
      filesystem: 'ext4',
      capacityBytes: 1,
    }),
  );
  await syncOnce(b.library, a.library);
  return uuid;
}

async function rejectedFromC(batch: Parameters<typeof applyBatch>[2]): Promise<string> {
  const before = await snapshotOf(b.library, c.id);
  const error = await applyBatch(b.library, c.id, batch).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(await snapshotOf(b.library, c.id)).toEqual(before);
  return isTidemarkError(error) ? error.code : `not rejected: ${String(error)}`;
}

test("a tombstone of a member's row from another member is refused with its batch", async () => {
  const uuid = await volumeOfA();
  const epoch = c.library.identity.epoch;
  expect(await rejectedFromC(batchOf('volume', [], epoch, 5, [{ uuid, hlc: stamp(), origin: c.id }]))).toBe(
    'FORBIDDEN_ROWS',
  );
  // Its owner's tombstone is taken.
  await expect(
    applyBatch(
      b.library,
      a.id,
      batchOf('volume', [], a.library.identity.epoch, 90, [{ uuid, hlc: stamp(), origin: a.id }]),
    ),
  ).resolves.toMatchObject({ written: 1 });
});

test("a member re-sending another member's row as its own (an owner change) is refused with its batch", async () => {
  const uuid = await volumeOfA();
  expect(
    await rejectedFromC(batchOf('volume', [volume(c.id, uuid, 'taken over')], c.library.identity.epoch, 5)),
  ).toBe('FORBIDDEN_ROWS');
});

test('a tombstone of a device row from any other device is a malformed batch', async () => {
  expect(
    await rejectedFromC(
      batchOf('device', [], c.library.identity.epoch, 5, [{ uuid: a.id, hlc: stamp(), origin: c.id }]),
    ),
  ).toBe('MALFORMED_BATCH');
});

test('rows claiming this device that it does not hold are skipped and counted; the watermark advances', async () => {
  const epoch = c.library.identity.epoch;
  const forged = volume(b.id);
  const tag = { uuid: randomUUID(), name: 'in my name', color: '', hlc: stamp(), origin: b.id };
  const volumes = await applyBatch(b.library, c.id, batchOf('volume', [forged], epoch, 5));
  const tags = await applyBatch(b.library, c.id, batchOf('tag', [tag], epoch, 6));
  expect(volumes).toMatchObject({ received: 1, written: 0, ownRowsSkipped: 1, watermarkSeq: 5 });
  expect(tags).toMatchObject({ received: 1, written: 0, ownRowsSkipped: 1, watermarkSeq: 6 });
  const held = await b.library.db.read.query('SELECT uuid FROM volumes WHERE uuid = ?', [forged.uuid]);
  expect(held).toEqual([]);
  expect(await readSkippedRows(b.library)).toEqual([
    expect.objectContaining({
      peerDeviceId: c.id,
      originDeviceId: b.id,
      resourceType: 'tag',
      reason: 'own_identity',
      rows: 1,
    }),
    expect.objectContaining({
      peerDeviceId: c.id,
      originDeviceId: b.id,
      resourceType: 'volume',
      reason: 'own_identity',
      rows: 1,
    }),
  ]);
  // Its own rows at the version it holds come back as the same write: nothing is counted.
  await b.library.write((tx) =>
    tx.put('volume', {
      uuid: randomUUID(),
      deviceUuid: b.id,
      name: 'mine',
      mountPoint: '/',
      filesystem: '',
      capacityBytes: 0,
    }),
  );
  await syncOnce(c.library, b.library);
  const back = await syncOnce(b.library, c.library);
  expect(back.reduce((sum, e) => sum + (e.kind === 'batch' ? e.ownRowsSkipped : 0), 0)).toBe(0);
  // An explicit adoption (after a restore) takes them.
  const adopted = await applyBatch(b.library, c.id, batchOf('volume', [forged], epoch, 7), {
    adoptOwnRows: true,
  });
  expect(adopted).toMatchObject({ written: 1, ownRowsSkipped: 0 });
});

test('the owner invariants hold in an open library too (no members: insecure mode)', async () => {
  const [x, y] = await createMembers(2);
  try {
    const uuid = randomUUID();
    await x.write((tx) =>
      tx.put('volume', {
        uuid,
        deviceUuid: x.identity.deviceId,
        name: 'x',
        mountPoint: '/',
        filesystem: '',
        capacityBytes: 0,
      }),
    );
    await syncOnce(y, x);
    const other = randomUUID();
    const epoch = '00000000-0000-4000-8000-000000000001';
    await expect(
      applyBatch(y, other, batchOf('volume', [], epoch, 5, [{ uuid, hlc: stamp(), origin: other }])),
    ).rejects.toMatchObject({ code: 'FORBIDDEN_ROWS' });
    await expect(
      applyBatch(y, other, batchOf('volume', [volume(other, uuid)], epoch, 5)),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN_ROWS',
    });
    // Rows of anyone else are taken, as an unpaired library always did.
    await expect(applyBatch(y, other, batchOf('volume', [volume(other)], epoch, 5))).resolves.toMatchObject({
      written: 1,
    });
  } finally {
    await x.close();
    await y.close();
  }
});
