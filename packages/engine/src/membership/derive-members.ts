import { MembershipAction } from '@tidemark/proto';
import { ZERO_HLC, encodeHlc } from '../hlc';
import { SignedChange } from './signed-change';

/** Where an identity stands in the library, as the stored changes say. */
export type MemberStatus =
  /** A member now. */
  | 'active'
  /** Removed by an effective REMOVE: final for this identity. */
  | 'removed'
  /** Added only by changes that were void (their signers were removed, or never members). */
  | 'voided';

export interface DerivedMember {
  readonly deviceId: string;
  readonly fingerprint: string;
  readonly certificate: Buffer;
  /** The name of the effective ADD or RENAME with the highest (hlc, id); '' when none. */
  readonly name: string;
  /** Signer and stamp of the first effective ADD (of the first ADD, when voided). */
  readonly addedBy: string;
  readonly addedHlc: string;
  readonly status: MemberStatus;
  /**
   * From this stamp on, rows written by this identity are not accepted: its removal stamp, or
   * the zero stamp for a voided identity (none of its rows); undefined while active.
   */
  readonly refusedFromHlc: string | undefined;
}

/** The order every device sweeps changes in: by stamp, then by id. */
export function compareChanges(a: SignedChange, b: SignedChange): number {
  if (a.hlc !== b.hlc) return a.hlc < b.hlc ? -1 : 1;
  return a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0;
}

/**
 * The library's members as a deterministic function of the SET of stored changes: any order of
 * arrival gives the same result (docs/architecture.md, "Membership").
 *
 * `seeds` are members from the start: the root, and the subjects of accepted legacy self-signed
 * ADDs. The changes are swept in (hlc, id) order. A change is effective when its signer is a
 * member at that point (seeded or effectively added, and not removed); a void change stays
 * stored and does nothing. An effective REMOVE is final: no ADD before or after it revives the
 * identity, so a removal wins over a concurrent add. Honest signers stamp each change above every
 * change they hold (the write path does), so an honest change is never swept before the ADD of
 * its own signer.
 *
 * Only identities with a stored ADD are returned: the certificate comes from it, and a device
 * that was never added has no rows anyone may accept.
 */
export function deriveMembers(
  changes: readonly SignedChange[],
  seeds: ReadonlySet<string>,
): Map<string, DerivedMember> {
  const sorted = [...changes].sort(compareChanges);
  const active = new Set(seeds);
  const removedAt = new Map<string, string>();
  const firstAdd = new Map<string, SignedChange>();
  const effectiveAdd = new Map<string, SignedChange>();
  const names = new Map<string, string>();
  for (const change of sorted) {
    const { subject } = change;
    if (change.action === MembershipAction.MEMBERSHIP_ACTION_ADD && !firstAdd.has(subject)) {
      firstAdd.set(subject, change);
    }
    if (!active.has(change.signer)) continue;
    switch (change.action) {
      case MembershipAction.MEMBERSHIP_ACTION_ADD:
        if (!effectiveAdd.has(subject)) effectiveAdd.set(subject, change);
        if (!removedAt.has(subject)) active.add(subject);
        names.set(subject, change.name);
        break;
      case MembershipAction.MEMBERSHIP_ACTION_REMOVE:
        if (!removedAt.has(subject)) removedAt.set(subject, change.hlc);
        active.delete(subject);
        break;
      case MembershipAction.MEMBERSHIP_ACTION_RENAME:
        names.set(subject, change.name);
        break;
    }
  }
  const zero = encodeHlc(ZERO_HLC);
  const members = new Map<string, DerivedMember>();
  for (const [deviceId, first] of firstAdd) {
    const added = effectiveAdd.get(deviceId) ?? first;
    const removed = removedAt.get(deviceId);
    const status: MemberStatus =
      removed !== undefined ? 'removed' : active.has(deviceId) ? 'active' : 'voided';
    members.set(deviceId, {
      deviceId,
      fingerprint: first.subjectFingerprint,
      certificate: first.certificate,
      name: names.get(deviceId) ?? '',
      addedBy: added.signer,
      addedHlc: added.hlc,
      status,
      refusedFromHlc: status === 'removed' ? removed : status === 'voided' ? zero : undefined,
    });
  }
  return members;
}
