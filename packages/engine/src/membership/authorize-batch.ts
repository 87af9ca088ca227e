import { TidemarkError } from '../errors';
import { MemberStore } from './members';
import { DEVICE_OWNED, ResourceName } from '../resource-types';
import { SqlRunner } from '../store/library-database';

/** The device ids of the library's active members, read once per transaction by apply. */
export async function activeMemberIds(sql: SqlRunner): Promise<ReadonlySet<string>> {
  return new Set((await new MemberStore(sql).active()).map((member) => member.deviceId));
}

/**
 * Authorization of a batch from a peer, run inside the apply transaction. Once a library has
 * members (it was paired), only members may feed it, and device-owned rows and tombstones must
 * belong to a member (for those types `origin` is the owner, which apply.ts already enforces).
 * A library without members is an open, unpaired library (insecure mode): nothing to check.
 */
export function authorizeOrigins(
  activeMembers: ReadonlySet<string>,
  selfDeviceId: string,
  peerDeviceId: string,
  name: ResourceName,
  origins: readonly string[],
): void {
  if (activeMembers.size === 0) return;
  const members = new Set(activeMembers).add(selfDeviceId);
  if (!members.has(peerDeviceId)) {
    throw new TidemarkError(
      'UNAUTHENTICATED',
      `peer ${peerDeviceId} is not a member of this library (removed or never paired)`,
    );
  }
  if (!DEVICE_OWNED.has(name)) return;
  const stranger = origins.find((origin) => !members.has(origin));
  if (stranger !== undefined) {
    throw new TidemarkError(
      'FORBIDDEN_ROWS',
      `${name} batch from ${peerDeviceId} carries rows of device ${stranger}, which is not a member of this library`,
    );
  }
}
