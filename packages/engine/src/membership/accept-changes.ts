import { KeyObject } from 'node:crypto';
import { MembershipAction } from '@tidemark/proto';
import { TidemarkError } from '../errors';
import { SqlRunner } from '../store/library-database';
import { deriveMembers } from './derive-members';
import {
  anchorLocalMembers,
  anchorsOf,
  hasSignedMembership,
  rootOf,
  seedsOf,
  storedChanges,
} from './membership-state';
import { publicKeyOf, SignedChange, verifyChange } from './signed-change';

/**
 * Checks received membership changes against what this device holds, inside the apply
 * transaction and before anything of their batch is written (docs/architecture.md,
 * "Membership"). The changes are taken in stream order, each checked against the stored changes
 * and the ones before it: an honest relay stores a change only after the ADD of its signer, and
 * serves in that order, so a relayed stream always passes. One change that fails rejects its
 * batch (FORBIDDEN_ROWS): nothing is stored and the watermark stays.
 *
 * `checkChange` has already checked each change on its own (fields, id against payload, an
 * ADD's certificate against its subject). What is left needs other changes:
 * - a self-signed change must be the root's ADD, or, in a library without a root (paired before
 *   signed membership), a legacy ADD whose subject this device trusted before (an anchor), holds
 *   a device row of, or already counts as a member;
 * - any other change must be signed by a device with a stored (or earlier) ADD, and its
 *   signature must verify with the certificate of that ADD.
 */
export async function acceptChanges(
  sql: SqlRunner,
  libraryId: string,
  changes: readonly SignedChange[],
): Promise<void> {
  if (changes.length === 0) return;
  if (!(await hasSignedMembership(sql))) await anchorLocalMembers(sql);
  const keys = new Map<string, KeyObject>();
  const rows = await sql.query<{ subject: string; certificate: string }>(
    'SELECT subject, certificate FROM membership_changes WHERE action = ?',
    [MembershipAction.MEMBERSHIP_ACTION_ADD],
  );
  const certificates = new Map(rows.map((row) => [row.subject, row.certificate]));
  const keyOf = (deviceId: string): KeyObject | undefined => {
    if (!keys.has(deviceId)) {
      const certificate = certificates.get(deviceId);
      const key = certificate === undefined ? undefined : publicKeyOf(Buffer.from(certificate, 'hex'));
      if (key !== undefined && typeof key !== 'string') keys.set(deviceId, key);
    }
    return keys.get(deviceId);
  };
  const root = await rootOf(sql);
  let anchors: Set<string> | undefined;
  const accepted: SignedChange[] = [];

  const refuse = (change: SignedChange, why: string): never => {
    throw new TidemarkError(
      'FORBIDDEN_ROWS',
      `membership change ${change.uuid} (${MembershipAction[change.action]} of ${change.subject} signed by ${change.signer}) is refused: ${why}`,
    );
  };

  for (const change of changes) {
    let key: KeyObject | undefined;
    if (change.signer === change.subject) {
      if (change.action !== MembershipAction.MEMBERSHIP_ACTION_ADD) {
        refuse(change, 'a device cannot sign a change about itself, other than its founding ADD');
      }
      if (change.legacy) {
        if (root) refuse(change, `a library founded by ${root} has no legacy members`);
        anchors ??= new Set((await anchorsOf(sql)).map((anchor) => anchor.deviceId));
        const known =
          anchors.has(change.subject) ||
          (await sql.query('SELECT 1 FROM devices WHERE uuid = ?', [change.subject])).length > 0 ||
          (await isActive(sql, accepted, change.subject));
        if (!known) refuse(change, 'a legacy self-signed ADD of a device this library has never seen');
      } else if (!root || change.subject !== root) {
        refuse(change, `only the library's root${root ? ` ${root}` : ''} adds itself`);
      }
      const own = publicKeyOf(change.certificate);
      key = typeof own === 'string' ? undefined : own;
    } else {
      key = keyOf(change.signer);
      if (!key) refuse(change, `the signer has no ADD in this library (a forgery, or not yet admitted)`);
    }
    if (!key || !verifyChange(libraryId, change, key)) {
      refuse(change, "the signature does not verify with the signer's certificate");
    }
    if (change.action === MembershipAction.MEMBERSHIP_ACTION_ADD && !certificates.has(change.subject)) {
      certificates.set(change.subject, change.certificate.toString('hex'));
    }
    accepted.push(change);
  }
}

/**
 * Whether a device is a member by the stored changes and the ones accepted before in the batch:
 * admitted by an effective ADD (an honest bridge's ADD of a legacy member often travels in the
 * same batch as that member's own legacy ADD, and the device rows that would vouch for it are
 * refused until one of them is stored).
 */
async function isActive(
  sql: SqlRunner,
  accepted: readonly SignedChange[],
  deviceId: string,
): Promise<boolean> {
  const changes = [...(await storedChanges(sql)), ...accepted];
  return deriveMembers(changes, seedsOf(changes, await rootOf(sql))).get(deviceId)?.status === 'active';
}
