import { TidemarkError } from '../errors';
import { DEVICE_OWNED, ResourceName } from '../resource-types';
import { SqlRunner } from '../store/library-database';
import { awaitsAdmission, hasSignedMembership, rootOf } from './membership-state';

/**
 * Who may feed this library, read once per apply transaction (and again after a membership
 * batch changed it): the derived `members` table once the library keeps signed membership, the
 * local one before.
 */
export interface MembershipView {
  /** The library keeps its membership as signed changes (docs/architecture.md, "Membership"). */
  readonly signed: boolean;
  /**
   * The library knows its root (founded with signed membership, or joined one) and so will keep
   * signed changes, even while it holds none yet (a joiner before its first membership pull).
   */
  readonly rooted: boolean;
  /** A rooted library that holds no ADD of itself yet (`awaitsAdmission`). */
  readonly awaitingAdmission: boolean;
  readonly active: ReadonlySet<string>;
  /**
   * Devices whose rows are refused from a stamp on (signed membership only): a removed member
   * from its removal stamp, a voided one from the zero stamp.
   */
  readonly refusedFrom: ReadonlyMap<string, string>;
  /** Every device `members` lists, removed ones included. */
  readonly listed: ReadonlySet<string>;
}

export async function readMembershipView(sql: SqlRunner): Promise<MembershipView> {
  const rows = await sql.query<{
    device_id: string;
    removed_at_ms: number | null;
    removed_hlc: string | null;
  }>('SELECT device_id, removed_at_ms, removed_hlc FROM members');
  const signed = await hasSignedMembership(sql);
  return {
    signed,
    rooted: (await rootOf(sql)) !== '',
    awaitingAdmission: await awaitsAdmission(sql),
    active: new Set(rows.filter((row) => row.removed_at_ms === null).map((row) => row.device_id)),
    refusedFrom: new Map(
      signed
        ? rows.flatMap((row): [string, string][] =>
            row.removed_hlc === null ? [] : [[row.device_id, row.removed_hlc]],
          )
        : [],
    ),
    listed: new Set(rows.map((row) => row.device_id)),
  };
}

/**
 * A batch carried rows of a device that no ADD stored here admits. From an honest relay this
 * means the ADD reached the relay after this device pulled the relay's membership (the client
 * pulls the membership again and retries: client.ts); otherwise it is a forgery.
 */
export class UnknownWriterError extends TidemarkError {
  constructor(
    message: string,
    /** The devices without an ADD. */
    readonly writers: readonly string[],
  ) {
    super('FORBIDDEN_ROWS', message);
    this.name = 'UnknownWriterError';
  }
}

/** What the rules decided for the rows of one batch. */
export interface RowVerdict {
  /** Positions (in the batch's item order) of rows to leave out without rejecting the batch. */
  readonly skipped: ReadonlySet<number>;
}

const NONE: RowVerdict = { skipped: new Set() };

/**
 * Authorization of a batch from a peer, run inside the apply transaction before anything is
 * written. A library without a root whose members are none or only itself is an open library
 * (unpaired, insecure mode): nothing to check. Otherwise the peer must be a current member, and:
 * - a library with a root that holds no ADD of itself yet (a joiner before a membership pull
 *   brought its admission; until then its members include the ones pairing listed) takes
 *   membership batches only: rows it took now could not be authorized to the devices it serves
 *   later, which find no ADD of their origin at it, or could be a listed member's forgeries
 *   (FAILED_PRECONDITION, nothing stored; a sync with a member that holds its ADD brings it);
 * - before signed membership, in a library without a root (local `members`): device-owned rows
 *   and tombstones must belong to a member (for those types `origin` is the owner, which apply.ts
 *   already enforces);
 * - with signed membership, for every type: a row of a current member (or of this device) is
 *   applied; a row of a removed member stamped before its removal is history and is applied, one
 *   stamped at or after it is skipped (an honest relay may hold it, having taken it before it
 *   learned of the removal: rejecting it would stall the type behind that relay for good); a row
 *   of a device that never was a member is a forgery and rejects the batch (FORBIDDEN_ROWS).
 * Membership batches are authorized by their signatures instead (accept-changes.ts).
 */
export function authorizeRows(
  view: MembershipView,
  selfDeviceId: string,
  peerDeviceId: string,
  name: ResourceName,
  items: readonly { readonly origin: string; readonly hlc: string }[],
): RowVerdict {
  const others = [...view.listed].filter((deviceId) => deviceId !== selfDeviceId);
  if (!view.rooted && (view.signed ? others.length === 0 : view.active.size === 0)) return NONE;
  const members = new Set(view.active).add(selfDeviceId);
  if (!members.has(peerDeviceId)) {
    throw new TidemarkError(
      'UNAUTHENTICATED',
      `peer ${peerDeviceId} is not a member of this library (removed or never paired)`,
    );
  }
  if (name === 'membership') return NONE;
  if (view.awaitingAdmission) {
    throw new TidemarkError(
      'FAILED_PRECONDITION',
      `this library does not hold the membership change that admits it yet, and peer ${peerDeviceId} did not serve it: ` +
        `it takes ${name} rows only once it does; sync with the device that invited it first`,
    );
  }
  if (!view.signed) {
    if (!DEVICE_OWNED.has(name)) return NONE;
    const stranger = items.find((item) => !members.has(item.origin));
    if (stranger !== undefined) {
      throw new TidemarkError(
        'FORBIDDEN_ROWS',
        `${name} batch from ${peerDeviceId} carries rows of device ${stranger.origin}, which is not a member of this library`,
      );
    }
    return NONE;
  }
  const skipped = new Set<number>();
  items.forEach((item, index) => {
    if (members.has(item.origin)) return;
    const refusedFrom = view.refusedFrom.get(item.origin);
    if (refusedFrom === undefined) {
      throw new UnknownWriterError(
        `${name} batch from ${peerDeviceId} carries rows of device ${item.origin}, which never was a member of this library`,
        [item.origin],
      );
    }
    if (item.hlc >= refusedFrom) skipped.add(index);
  });
  return { skipped };
}
