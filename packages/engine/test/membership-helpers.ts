import { Record as WireRecord, ResourceType, StateBatch, Tombstone } from '@tidemark/proto';
import {
  addMembers,
  CreateLibraryOptions,
  Library,
  readActiveMembers,
  readLibraryRoot,
  readMembers,
} from '../src';
import {
  readMembershipChanges,
  signGenesis,
  signMemberAdd,
  setLibraryRoot,
} from '../src/membership/membership-writes';
import { recordFromChange, SignedChange } from '../src/membership/signed-change';
import { wrapRecord } from '../src/records';
import { AnyRecord, ResourceName, resourceTypeOf } from '../src/resource-types';
import { ResourceWatermarkStore } from '../src/watermarks';
import { DeviceKey, makeDeviceKey } from './device-keys';
import { createLibrary } from './fixtures';
import { digestsOf } from './sync-helpers';

/** A device of a signed library: its library file and its key. */
export interface Device {
  readonly library: Library;
  readonly key: DeviceKey;
  readonly id: string;
}

/** A new library founded by a new device (what `tidemark init` does): root, with its genesis. */
export async function foundLibrary(options: CreateLibraryOptions = {}): Promise<Device> {
  const key = makeDeviceKey('root');
  const library = await createLibrary({ ...options, deviceId: key.deviceId });
  await signGenesis(library, key.signer);
  return { library, key, id: key.deviceId };
}

/**
 * What a completed pairing leaves on a joiner besides the root (pairing-client.ts): the inviter
 * and every member it lists, as local members, until the joiner's first membership pull replaces
 * them with the signed changes. A joiner that already holds changes keeps them.
 */
export async function pairingLeavesMembers(inviter: Library, joiner: Library): Promise<void> {
  if ((await readMembershipChanges(joiner)).length > 0) return;
  const self = joiner.identity.deviceId;
  const listed = (await readActiveMembers(inviter)).filter((member) => member.deviceId !== self);
  await addMembers(
    joiner,
    listed.map((member) => ({ ...member, addedBy: inviter.identity.deviceId })),
  );
}

/**
 * A new device admitted by `inviter` (what pairing does): its library knows the root and the
 * members the inviter lists, and the inviter has signed its ADD. It learns the membership by
 * syncing, like any device.
 */
export async function admitThrough(
  inviter: Device,
  options: CreateLibraryOptions = {},
  label = 'member',
): Promise<Device> {
  const key = makeDeviceKey(label);
  const library = await createLibrary({
    ...options,
    libraryId: inviter.library.identity.libraryId,
    deviceId: key.deviceId,
  });
  await setLibraryRoot(library, await readLibraryRoot(inviter.library));
  await signMemberAdd(inviter.library, inviter.key.signer, key.certificateDer, label);
  await pairingLeavesMembers(inviter.library, library);
  return { library, key, id: key.deviceId };
}

export const activeIds = async (library: Library): Promise<string[]> =>
  (await readActiveMembers(library)).map((member) => member.deviceId).sort();

export const memberStates = async (library: Library): Promise<{ [deviceId: string]: string }> =>
  Object.fromEntries(
    (await readMembers(library)).map((member) => [
      member.deviceId,
      member.removedAtMs === undefined ? 'active' : 'refused',
    ]),
  );

/** A batch of one type as a peer with `epoch` would serve it. */
export function batchOf(
  name: ResourceName,
  records: readonly AnyRecord[],
  epoch: string,
  seq: number,
  tombstones: readonly Omit<Tombstone, 'resourceType' | 'originSeq' | 'originEpoch'>[] = [],
): StateBatch {
  const type: ResourceType = resourceTypeOf(name);
  return {
    resourceType: type,
    records: records.map((record): WireRecord => wrapRecord(name, record)),
    tombstones: tombstones.map((tombstone) => ({
      ...tombstone,
      resourceType: type,
      originSeq: 0,
      originEpoch: '',
    })),
    checkpoint: { resourceType: type, epoch, seq, hlc: undefined, covered: [], commitId: '' },
    remaining: 0,
    reset: false,
    caughtUp: true,
    recordOriginSeqs: [],
    recordOriginEpochs: [],
    originEpochs: [],
    heldSkipped: 0,
  };
}

/** A membership batch carrying `changes`. */
export function changesBatch(changes: readonly SignedChange[], epoch: string, seq: number): StateBatch {
  return batchOf('membership', changes.map(recordFromChange), epoch, seq);
}

/** Everything a rejected batch must leave as it was: digests and the peer's watermarks. */
export async function snapshotOf(library: Library, peerDeviceId: string) {
  return {
    digests: await digestsOf(library),
    watermarks: [...(await new ResourceWatermarkStore(library.db.read).forPeer(peerDeviceId)).values()],
    members: await readMembers(library),
  };
}
