/**
 * What a caught-up batch's `covered` prefixes do on apply (apply.ts, `adoptCovered`): each is
 * taken as held here for the batch's type, in the apply's transaction, unless it is about this
 * device or about a member removed here. Raising any tells this process's streams of other peers
 * (`prefixesRaised$`, so they ask again with the new claims), and the result counts them. A batch
 * that is not caught up takes only the server's own lineage in the batch's epoch; a prefix not
 * above the one held raises nothing and tells nobody.
 */
import { OriginPrefix, StateBatch } from '@tidemark/proto';
import { Subscription } from 'rxjs';
import { applyBatch } from '../src/apply';
import { PrefixesRaised } from '../src/library';
import { MemberStore } from '../src/membership/members';
import { signMemberRemove } from '../src/membership/membership-writes';
import { OriginPrefixStore } from '../src/origin-prefixes';
import { createLibrary, removeTempDirs } from './fixtures';
import { admitThrough, batchOf, Device, foundLibrary } from './membership-helpers';
import { fixedUuid } from './scenario-helpers';

/** A writer this device knows nothing against, and the epoch its rows were written in. */
const ORIGIN = fixedUuid(9, 2);
const EPOCH = fixedUuid(8, 1);

let root: Device;
/** The member serving the batches. */
let peer: Device;
let removed: Device;
const told: PrefixesRaised[] = [];
let telling: Subscription;

beforeAll(async () => {
  root = await foundLibrary();
  peer = await admitThrough(root);
  removed = await admitThrough(root);
  await signMemberRemove(root.library, root.key.signer, removed.id);
  telling = root.library.prefixesRaised$.subscribe((event) => told.push(event));
});

afterAll(async () => {
  telling.unsubscribe();
  await removed.library.close();
  await peer.library.close();
  await root.library.close();
  removeTempDirs();
});

function batchCovering(
  seq: number,
  covered: OriginPrefix[],
  caughtUp = true,
  epoch = peer.library.identity.epoch,
): StateBatch {
  const batch = batchOf('tag', [], epoch, seq);
  return { ...batch, caughtUp, checkpoint: { ...batch.checkpoint!, covered } };
}

const held = async (library = root.library) =>
  (await new OriginPrefixStore(library.db.read).forType('tag')).map(({ origin, epoch, seq }) => ({
    origin,
    epoch,
    seq: Number(seq),
  }));

test('covered prefixes are held after a caught-up batch, except this device’s own and a removed member’s; raising tells once and is counted', async () => {
  const own = { origin: root.id, epoch: root.library.identity.epoch, seq: 3 };
  const ofRemoved = { origin: removed.id, epoch: removed.library.identity.epoch, seq: 4 };
  const first = await applyBatch(
    root.library,
    peer.id,
    batchCovering(1, [{ origin: ORIGIN, epoch: EPOCH, seq: 5 }, own, ofRemoved]),
  );
  expect(first.prefixesRaised).toBe(1);
  expect(await held()).toEqual([{ origin: ORIGIN, epoch: EPOCH, seq: 5 }]);
  expect(told).toEqual([{ resourceType: 'tag', peerDeviceId: peer.id }]);

  // The same prefixes again, and a higher one in a batch that is not caught up: nothing raised.
  const again = await applyBatch(
    root.library,
    peer.id,
    batchCovering(2, [{ origin: ORIGIN, epoch: EPOCH, seq: 5 }, own, ofRemoved]),
  );
  const notCaughtUp = await applyBatch(
    root.library,
    peer.id,
    batchCovering(3, [{ origin: ORIGIN, epoch: EPOCH, seq: 9 }], false),
  );
  expect([again.prefixesRaised, notCaughtUp.prefixesRaised]).toEqual([0, 0]);
  expect(await held()).toEqual([{ origin: ORIGIN, epoch: EPOCH, seq: 5 }]);
  expect(told).toHaveLength(1);

  // Caught up at the higher one: raised, and told again.
  const raised = await applyBatch(
    root.library,
    peer.id,
    batchCovering(4, [{ origin: ORIGIN, epoch: EPOCH, seq: 9 }]),
  );
  expect(raised.prefixesRaised).toBe(1);
  expect(await held()).toEqual([{ origin: ORIGIN, epoch: EPOCH, seq: 9 }]);
  expect(told).toEqual([
    { resourceType: 'tag', peerDeviceId: peer.id },
    { resourceType: 'tag', peerDeviceId: peer.id },
  ]);
});

test('in a library without signed membership, a prefix about a member removed here is not held either', async () => {
  const local = await createLibrary();
  const member = (deviceId: string) => ({
    deviceId,
    fingerprint: deviceId,
    certificatePem: '',
    name: deviceId,
    addedBy: local.identity.deviceId,
  });
  const [server, gone] = [fixedUuid(9, 3), fixedUuid(9, 4)];
  try {
    await local.db.writeTransaction(async (sql) => {
      const members = new MemberStore(sql);
      await members.add(member(server), 1);
      await members.add(member(gone), 1);
      await members.remove(gone, 2);
    });
    const result = await applyBatch(
      local,
      server,
      batchCovering(
        1,
        [
          { origin: ORIGIN, epoch: EPOCH, seq: 5 },
          { origin: gone, epoch: fixedUuid(8, 4), seq: 6 },
        ],
        true,
        fixedUuid(8, 3),
      ),
    );
    expect(result.prefixesRaised).toBe(1);
    expect(await held(local)).toEqual([{ origin: ORIGIN, epoch: EPOCH, seq: 5 }]);
  } finally {
    await local.close();
  }
});

test('a batch before caught_up takes of its covered list only the server’s own lineage in the batch’s epoch', async () => {
  const local = await createLibrary();
  const [server, serverEpoch, earlierEpoch] = [fixedUuid(9, 5), fixedUuid(8, 5), fixedUuid(8, 6)];
  try {
    const result = await applyBatch(
      local,
      server,
      batchCovering(
        1,
        [
          { origin: server, epoch: serverEpoch, seq: 5 },
          // Not the server's lineage in this epoch: before caught_up none of these is taken.
          { origin: server, epoch: earlierEpoch, seq: 9 },
          { origin: ORIGIN, epoch: serverEpoch, seq: 7 },
          { origin: ORIGIN, epoch: EPOCH, seq: 3 },
        ],
        false,
        serverEpoch,
      ),
    );
    expect(result.prefixesRaised).toBe(1);
    expect(await held(local)).toEqual([{ origin: server, epoch: serverEpoch, seq: 5 }]);
  } finally {
    await local.close();
  }
});
