/**
 * A joiner knows its library's root (and, from pairing, the members its inviter listed) before it
 * holds the signed change that admits it. Until a membership pull brings that ADD it takes
 * membership batches only, and keeps trusting the members pairing listed: a row it took earlier could be one it cannot authorize to the devices it serves
 * later (they find no ADD of the row's origin at it and refuse the batch as a forgery, which
 * fails the type of an honest sync), or a forgery a listed member relays.
 *
 * Found by the convergence property (signed membership, seed 443325837): a joiner that knew
 * nothing but its root counted as an open library, took a device row from a member whose ADD it
 * did not hold, and then served it to the founder, which refused it (FORBIDDEN_ROWS).
 */
import { randomUUID } from 'node:crypto';
import { applyBatch } from '../src/apply';
import { Library } from '../src/library';
import { readMembershipChanges, setLibraryRoot } from '../src/membership/membership-writes';
import { ResourceWatermarkStore } from '../src/watermarks';
import { makeDeviceKey } from './device-keys';
import { createLibrary, removeTempDirs } from './fixtures';
import { activeIds, admitThrough, batchOf, Device, foundLibrary } from './membership-helpers';
import { countRows, digestsOf, syncUntilCut, transportTo } from './sync-helpers';

afterAll(removeTempDirs);

const open: Library[] = [];
afterEach(async () => {
  for (const library of open.splice(0)) await library.close();
});
const kept = <T extends { library: Library }>(device: T): T => {
  open.push(device.library);
  return device;
};

/** A volume row of `owner`, as a peer would serve it. */
const volumeOf = (owner: string, i = 0) => ({
  uuid: randomUUID(),
  deviceUuid: owner,
  name: `v${i}`,
  mountPoint: `/mnt/${i}`,
  filesystem: 'ext4',
  capacityBytes: 1,
  hlc: { physicalMs: Date.now(), logical: i },
  origin: owner,
});

async function pullAll(client: Device, server: Device) {
  return syncUntilCut(client.library, transportTo(server.library));
}

test('a joiner that knows only its root is no open library: it takes nothing from a device it does not know', async () => {
  const founder = kept(await foundLibrary());
  const stranger = makeDeviceKey('stranger');
  const joinerKey = makeDeviceKey('joiner');
  const joiner = await createLibrary({
    libraryId: founder.library.identity.libraryId,
    deviceId: joinerKey.deviceId,
  });
  open.push(joiner);
  await setLibraryRoot(joiner, founder.id);
  const batch = batchOf('volume', [volumeOf(stranger.deviceId)], randomUUID(), 1);
  await expect(applyBatch(joiner, stranger.deviceId, batch)).rejects.toMatchObject({
    code: 'UNAUTHENTICATED',
  });
  expect(await countRows(joiner, 'volumes')).toBe(0);
  expect(await new ResourceWatermarkStore(joiner.db.read).get(stranger.deviceId, 'volume')).toBeUndefined();
});

test("before its first membership pull a joiner refuses rows from a listed member, a forger's tag among them", async () => {
  const founder = kept(await foundLibrary());
  const joiner = kept(await admitThrough(founder, {}, 'joiner'));
  const forger = randomUUID();
  const epoch = founder.library.identity.epoch;
  const before = await digestsOf(joiner.library);
  const tag = {
    uuid: randomUUID(),
    name: 'forged',
    color: '',
    hlc: { physicalMs: Date.now(), logical: 0 },
    origin: forger,
  };
  for (const batch of [
    batchOf('volume', [volumeOf(founder.id)], epoch, 1),
    batchOf('tag', [tag], epoch, 1),
  ]) {
    await expect(applyBatch(joiner.library, founder.id, batch)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining('sync with the device that invited it first'),
    });
  }
  expect(await digestsOf(joiner.library)).toEqual(before);
  const watermarks = new ResourceWatermarkStore(joiner.library.db.read);
  expect(await watermarks.get(founder.id, 'volume')).toBeUndefined();
  expect(await watermarks.get(founder.id, 'tag')).toBeUndefined();
  // Once it holds the membership, the same member's rows are taken and a forger's still refused.
  await pullAll(joiner, founder);
  expect((await readMembershipChanges(joiner.library)).length).toBeGreaterThan(0);
  await applyBatch(joiner.library, founder.id, batchOf('volume', [volumeOf(founder.id)], epoch, 1));
  await expect(applyBatch(joiner.library, founder.id, batchOf('tag', [tag], epoch, 2))).rejects.toMatchObject(
    { code: 'FORBIDDEN_ROWS' },
  );
});

test('a relay never holds rows it cannot authorize: the joiner pulls from a member without changes, then from its inviter, and serves everything on', async () => {
  const root = kept(await foundLibrary());
  const inviter = kept(await admitThrough(root, {}, 'inviter'));
  await pullAll(inviter, root);
  // Admitted by the inviter; it has not pulled yet, so it holds no signed change either.
  const quiet = kept(await admitThrough(inviter, {}, 'quiet'));
  await quiet.library.write((tx) => tx.put('volume', volumeOf(quiet.id)));
  await pullAll(root, inviter);
  // Paired through the root after the root learned of `quiet`: pairing lists `quiet`.
  const joiner = kept(await admitThrough(root, {}, 'joiner'));

  const early = await pullAll(joiner, quiet);
  expect(early.error).toMatchObject({ code: 'FAILED_PRECONDITION' });
  expect(await countRows(joiner.library, 'volumes')).toBe(0);

  await pullAll(joiner, root);
  const late = await pullAll(joiner, quiet);
  expect(late.error).toBeUndefined();
  expect(await countRows(joiner.library, 'volumes')).toBe(1);

  // A member that knows of `quiet` through the joiner alone takes its row through it.
  const last = kept(await admitThrough(joiner, {}, 'last'));
  const run = await pullAll(last, joiner);
  expect(run.events.filter((event) => event.kind === 'type_failed')).toEqual([]);
  expect(run.error).toBeUndefined();
  expect(await countRows(last.library, 'volumes')).toBe(1);
});

test('a joiner whose first membership pull is cut before its ADD still trusts its inviter, and the next pull admits it', async () => {
  const root = kept(await foundLibrary());
  const inviter = kept(await admitThrough(root, {}, 'inviter'));
  await pullAll(inviter, root);
  await inviter.library.write((tx) => tx.put('volume', volumeOf(inviter.id)));
  const joiner = kept(await admitThrough(inviter, {}, 'joiner'));
  // The inviter serves the root's genesis first, then the inviter's ADD, then the joiner's.
  const cut = await syncUntilCut(
    joiner.library,
    transportTo(inviter.library, { cutBefore: (_batch, delivered) => delivered === 1 }),
    { batchSize: 1 },
  );
  expect(cut.error).toMatchObject({ code: 'UNAVAILABLE' });
  expect(await readMembershipChanges(joiner.library)).toHaveLength(1);
  expect(await activeIds(joiner.library)).toEqual([inviter.id, root.id].sort());

  const resumed = await pullAll(joiner, inviter);
  expect(resumed.error).toBeUndefined();
  expect(await activeIds(joiner.library)).toEqual([inviter.id, joiner.id, root.id].sort());
  expect(await countRows(joiner.library, 'volumes')).toBe(1);
  const [held, served] = [await digestsOf(joiner.library), await digestsOf(inviter.library)];
  expect([held.volume, held.membership]).toEqual([served.volume, served.membership]);
});
