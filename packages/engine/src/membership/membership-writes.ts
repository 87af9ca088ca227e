import { X509Certificate } from 'node:crypto';
import { MembershipAction } from '@tidemark/proto';
import { TidemarkError } from '../errors';
import { decodeHlc, encodeHlc, HybridLogicalClock, successorOf } from '../hlc';
import type { Library } from '../library';
import { ReadScope, runnerOf } from '../reads/scope';
import { selectRecord } from '../reads/stored-records';
import { SqlRunner } from '../store/library-database';
import { isUuid, MAX_BYTES, MAX_NAME_BYTES } from '../validate';
import { InviteStore } from './invites';
import type { WriteTransaction } from '../write-path';
import { DerivedMember, deriveMembers } from './derive-members';
import { deviceIdOf, fingerprintOf } from './device-identity';
import {
  anchorLocalMembers,
  anchorsOf,
  rederiveMembers,
  rootOf,
  seedsOf,
  storedChanges,
} from './membership-state';
import { ChangeContent, MembershipSigner, publicKeyOf, SignedChange, signChange } from './signed-change';

/*
 * The membership changes a device makes: every one signed with its key, written through the one
 * write path with the next seq, and followed by a new derivation of `members` in the same
 * transaction. They reach every member by ordinary sync (membership is the first type).
 */

const {
  MEMBERSHIP_ACTION_ADD: ADD,
  MEMBERSHIP_ACTION_REMOVE: REMOVE,
  MEMBERSHIP_ACTION_RENAME: RENAME,
} = MembershipAction;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function checkName(name: string): void {
  if (Buffer.byteLength(name) > MAX_NAME_BYTES || CONTROL.test(name)) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `a member's name must be at most ${MAX_NAME_BYTES} bytes without control characters`,
    );
  }
}

/** The signer must be this device, holding the key of this device's certificate. */
function checkSigner(library: Library, signer: MembershipSigner): void {
  const self = library.identity.deviceId;
  if (signer.deviceId !== self || deviceIdOf(signer.certificateDer) !== self) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `membership changes of this library are signed by its device ${self}, not by ${signer.deviceId}`,
    );
  }
}

/** What one transaction knows of the membership while it writes changes. */
interface Membership {
  readonly sql: SqlRunner;
  readonly changes: SignedChange[];
  readonly root: string;
  members: Map<string, DerivedMember>;
}

async function membershipIn(tx: WriteTransaction): Promise<Membership> {
  const sql = await runnerOf(tx);
  const changes = await storedChanges(sql);
  const root = await rootOf(sql);
  return { sql, changes, root, members: deriveMembers(changes, seedsOf(changes, root)) };
}

/**
 * The stamp of a new change: the clock's, raised above every change held when it is not, so a
 * signer's change always sorts after the changes it saw (its own ADD included) whatever the
 * clocks. Like any stamp raised above a held version, it goes on this change only.
 */
function stampAbove(clock: HybridLogicalClock, changes: readonly SignedChange[]): string {
  const now = encodeHlc(clock.now());
  const newest = changes.reduce((max, change) => (change.hlc > max ? change.hlc : max), '');
  return newest !== '' && now <= newest ? encodeHlc(successorOf(decodeHlc(newest))) : now;
}

async function write(
  library: Library,
  tx: WriteTransaction,
  membership: Membership,
  signer: MembershipSigner,
  content: Omit<ChangeContent, 'hlc' | 'signer'>,
): Promise<SignedChange> {
  const change = signChange(library.identity.libraryId, signer, {
    ...content,
    signer: signer.deviceId,
    hlc: stampAbove(library.clock, membership.changes),
  });
  await tx.putSignedChange(change);
  membership.changes.push(change);
  membership.members = deriveMembers(membership.changes, seedsOf(membership.changes, membership.root));
  return change;
}

function requireActiveSigner(membership: Membership, signer: MembershipSigner): void {
  if (membership.members.get(signer.deviceId)?.status !== 'active') {
    throw new TidemarkError(
      'FAILED_PRECONDITION',
      membership.changes.length === 0
        ? 'this library has no signed membership yet: `tidemark init` founds it, a joined device receives it by sync'
        : `device ${signer.deviceId} is not an active member of this library, so it cannot sign membership changes`,
    );
  }
}

/** A stored ADD's certificate, or the subject's fingerprint from any change about it. */
function fingerprintIn(membership: Membership, deviceId: string): string {
  const member = membership.members.get(deviceId);
  if (!member) throw new TidemarkError('NOT_FOUND', `device ${deviceId} was never added to this library`);
  return member.fingerprint;
}

async function commit<T>(
  library: Library,
  fn: (tx: WriteTransaction, m: Membership) => Promise<T>,
): Promise<T> {
  return library.write(async (tx) => {
    const membership = await membershipIn(tx);
    const result = await fn(tx, membership);
    await rederiveMembers(membership.sql);
    return result;
  });
}

/**
 * Founds the signed membership of a new library: this device becomes its root, with a
 * self-signed ADD (the one change that needs no other signer). `tidemark init` calls it once
 * it has made the device's key.
 */
export async function signGenesis(library: Library, signer: MembershipSigner): Promise<SignedChange> {
  checkSigner(library, signer);
  return commit(library, async (tx, membership) => {
    const self = library.identity.deviceId;
    if (membership.changes.length > 0 || (membership.root !== '' && membership.root !== self)) {
      throw new TidemarkError(
        'FAILED_PRECONDITION',
        'this library already has a membership; only a new library is founded',
      );
    }
    if ((await membership.sql.query('SELECT 1 FROM members LIMIT 1')).length > 0) {
      throw new TidemarkError(
        'FAILED_PRECONDITION',
        'this library has members from before signed membership: migrate them (migrateLegacyMembers) instead',
      );
    }
    await membership.sql.query('UPDATE library_identity SET root_device_id = ? WHERE id = 1', [self]);
    const device = await selectRecord(membership.sql, 'device', self);
    return write(library, tx, { ...membership, root: self }, signer, {
      action: ADD,
      subject: self,
      subjectFingerprint: fingerprintOf(signer.certificateDer),
      certificate: signer.certificateDer,
      name: device?.name ?? '',
      legacy: false,
    });
  });
}

/** An invite spent by the transaction that admits its holder: pairing (see signMemberAdd). */
export interface SpentInvite {
  readonly inviteId: string;
  readonly secret: Buffer;
}

/**
 * Admits a device by its certificate, signed by this device (an active member). A device that
 * was removed stays removed (removal is final: it needs a new key and a new invite); a device
 * that is already a member gets no new change (undefined).
 *
 * With `invite`, the invite is checked and marked used by the device in the same transaction:
 * a pairing refused here (a name or certificate no member would accept, a removed device)
 * leaves the invite open for a retry, and of two joiners racing with one invite, one gets it.
 * A device that is already an active member is answered without using the invite.
 */
export async function signMemberAdd(
  library: Library,
  signer: MembershipSigner,
  certificateDer: Buffer,
  name: string,
  invite?: SpentInvite,
): Promise<SignedChange | undefined> {
  checkSigner(library, signer);
  checkName(name);
  // Every receiver refuses a larger bytes field (validate.ts), and a change is immutable: signed
  // and stored, it would stop every member's membership stream from this device for good.
  if (certificateDer.length === 0 || certificateDer.length > MAX_BYTES) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `a member's certificate must be 1 to ${MAX_BYTES} bytes of DER, got ${certificateDer.length}`,
    );
  }
  const key = publicKeyOf(certificateDer);
  if (typeof key === 'string') throw new TidemarkError('INVALID_ARGUMENT', key);
  const subject = deviceIdOf(certificateDer);
  return commit(library, async (tx, membership) => {
    const invites = new InviteStore(tx.sql);
    if (invite) await invites.check(invite.inviteId, invite.secret, Date.now());
    requireActiveSigner(membership, signer);
    const status = membership.members.get(subject)?.status;
    if (status === 'removed') {
      throw new TidemarkError(
        'FAILED_PRECONDITION',
        `device ${subject} was removed from this library; removal is final: the device needs a new key and a new invite`,
      );
    }
    // Already a member: pairing again adds no one, so the invite is left for someone else.
    if (status === 'active') return undefined;
    if (invite) await invites.redeem(invite.inviteId, invite.secret, subject, Date.now());
    return write(library, tx, membership, signer, {
      action: ADD,
      subject,
      subjectFingerprint: fingerprintOf(certificateDer),
      certificate: certificateDer,
      name,
      legacy: false,
    });
  });
}

/**
 * Removes a member for good, signed by this device (an active member; a device does not remove
 * itself). False when it was removed already.
 */
export async function signMemberRemove(
  library: Library,
  signer: MembershipSigner,
  deviceId: string,
): Promise<boolean> {
  checkSigner(library, signer);
  if (deviceId === signer.deviceId) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      'a device cannot remove itself; remove it from another member',
    );
  }
  return commit(library, async (tx, membership) => {
    requireActiveSigner(membership, signer);
    const subjectFingerprint = fingerprintIn(membership, deviceId);
    if (membership.members.get(deviceId)?.status === 'removed') return false;
    await write(library, tx, membership, signer, {
      action: REMOVE,
      subject: deviceId,
      subjectFingerprint,
      certificate: Buffer.alloc(0),
      name: '',
      legacy: false,
    });
    return true;
  });
}

/** Renames another member (display only), signed by this device (an active member). */
export async function signMemberRename(
  library: Library,
  signer: MembershipSigner,
  deviceId: string,
  name: string,
): Promise<SignedChange> {
  checkSigner(library, signer);
  checkName(name);
  if (deviceId === signer.deviceId) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      'a device cannot sign a change about itself; its own name is its device row',
    );
  }
  return commit(library, async (tx, membership) => {
    requireActiveSigner(membership, signer);
    return write(library, tx, membership, signer, {
      action: RENAME,
      subject: deviceId,
      subjectFingerprint: fingerprintIn(membership, deviceId),
      certificate: Buffer.alloc(0),
      name,
      legacy: false,
    });
  });
}

interface LocalMember {
  readonly deviceId: string;
  readonly certificatePem: string;
  readonly name: string;
}

/** A local member's certificate DER, when it is one its device id derives from. */
function certificateOf(member: LocalMember): Buffer | undefined {
  let der: Buffer;
  try {
    der = new X509Certificate(member.certificatePem).raw;
  } catch {
    return undefined; // a certificate this device could never have paired with: nothing to vouch for
  }
  return deviceIdOf(der) === member.deviceId && typeof publicKeyOf(der) !== 'string' ? der : undefined;
}

/**
 * The bridge for a library paired before membership was signed, run once by each device on its
 * first start with its key: it signs a legacy ADD of itself and an ADD of every member it
 * trusted locally, so no device has to pair again; a member it had removed locally is added and
 * removed, so that its removal holds everywhere. Idempotent: a device that has signed any
 * change already writes nothing. Returns how many changes it wrote.
 */
export async function migrateLegacyMembers(library: Library, signer: MembershipSigner): Promise<number> {
  checkSigner(library, signer);
  return commit(library, async (tx, membership) => {
    const self = library.identity.deviceId;
    if (membership.changes.some((change) => change.signer === self)) return 0;
    const { sql } = membership;
    // Members paired after the upgrade but before this bridge are anchors too. Members removed
    // here are still listed locally until the first signed changes arrive: their removal must
    // not be undone by another member's bridge, which may still trust them.
    const removedHere: LocalMember[] = [];
    if (membership.changes.length === 0) {
      await anchorLocalMembers(sql);
      removedHere.push(
        ...(
          await sql.query<{ device_id: string; certificate_pem: string; name: string }>(
            'SELECT device_id, certificate_pem, name FROM members WHERE removed_at_ms IS NOT NULL ORDER BY device_id',
          )
        ).map((row) => ({ deviceId: row.device_id, certificatePem: row.certificate_pem, name: row.name })),
      );
    }
    const anchors = (await anchorsOf(sql)).filter((anchor) => anchor.deviceId !== self);
    if (anchors.length === 0 && removedHere.length === 0) return 0;
    let written = 0;
    if (membership.members.get(self)?.status !== 'active') {
      await write(library, tx, membership, signer, {
        action: ADD,
        subject: self,
        subjectFingerprint: fingerprintOf(signer.certificateDer),
        certificate: signer.certificateDer,
        name: (await selectRecord(sql, 'device', self))?.name ?? '',
        legacy: true,
      });
      written += 1;
    }
    const add = async (member: LocalMember): Promise<boolean> => {
      const der = certificateOf(member);
      if (!der || membership.members.has(member.deviceId)) return false;
      await write(library, tx, membership, signer, {
        action: ADD,
        subject: member.deviceId,
        subjectFingerprint: fingerprintOf(der),
        certificate: der,
        // Local names were never checked like signed ones: one that does not fit is left out.
        name:
          Buffer.byteLength(member.name) <= MAX_NAME_BYTES && !CONTROL.test(member.name) ? member.name : '',
        legacy: false,
      });
      written += 1;
      return true;
    };
    for (const anchor of anchors) await add(anchor);
    // Admitted and removed at once: what it wrote before is history everywhere, and the removal
    // is final, whoever else vouches for it.
    for (const removed of removedHere) {
      if (!(await add(removed))) continue;
      await write(library, tx, membership, signer, {
        action: REMOVE,
        subject: removed.deviceId,
        subjectFingerprint: fingerprintOf(certificateOf(removed)!),
        certificate: Buffer.alloc(0),
        name: '',
        legacy: false,
      });
      written += 1;
    }
    return written;
  });
}

/**
 * Records the library's root on a device that joins it, before its first sync: the root's
 * self-signed ADD is then the one change accepted without another signer. The joiner takes it
 * from the inviter's PairResponse. A library's root never changes once set.
 */
export async function setLibraryRoot(library: Library, deviceId: string): Promise<void> {
  if (!isUuid(deviceId)) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `root device id "${deviceId}" must be a lowercase hyphenated UUID`,
    );
  }
  await library.write(async (tx) => {
    const sql = await runnerOf(tx);
    const root = await rootOf(sql);
    if (root === deviceId) return;
    if (root !== '') {
      throw new TidemarkError('FAILED_PRECONDITION', `this library's root is ${root}; it never changes`);
    }
    await sql.query('UPDATE library_identity SET root_device_id = ? WHERE id = 1', [deviceId]);
    await rederiveMembers(sql);
  });
}

/** The library's root device id; '' for a library made before signed membership. */
export async function readLibraryRoot(scope: ReadScope): Promise<string> {
  return rootOf(await runnerOf(scope));
}

/** Every stored membership change, in the order this device stored them. */
export async function readMembershipChanges(scope: ReadScope): Promise<SignedChange[]> {
  return storedChanges(await runnerOf(scope));
}
