import { createHash, timingSafeEqual } from 'node:crypto';
import { TidemarkError } from '../errors';
import type { Library } from '../library';
import { ReadScope, runnerOf } from '../reads/scope';
import { SqlRunner } from '../store/library-database';
import { MemberStore, NewMember } from './members';

export interface NewInvite {
  readonly inviteId: string;
  readonly secret: Buffer;
  /** Where the joiner should dial; kept for `peer list` and the audit trail. */
  readonly address: string;
  readonly expiresAtMs: number;
}

/**
 * An invite as `tidemark invite list` shows it. A revoked invite is stored as used by nobody
 * (`used_at_ms` set, `used_by` NULL): redeeming marks an invite used by its joiner, so the two
 * never mix, and a revocation needs no column of its own.
 */
export interface InviteRecord {
  readonly inviteId: string;
  readonly address: string;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
  /** When a joiner redeemed it, and who. */
  readonly used: { readonly atMs: number; readonly by: string } | undefined;
  readonly revokedAtMs: number | undefined;
}

interface InviteRow {
  invite_id: string;
  secret_sha256: string;
  address: string;
  created_at_ms: number;
  expires_at_ms: number;
  used_at_ms: number | null;
  used_by: string | null;
}

function recordOf(row: InviteRow): InviteRecord {
  const revoked = row.used_at_ms !== null && row.used_by === null;
  return {
    inviteId: row.invite_id,
    address: row.address,
    createdAtMs: row.created_at_ms,
    expiresAtMs: row.expires_at_ms,
    used:
      row.used_at_ms !== null && row.used_by !== null ? { atMs: row.used_at_ms, by: row.used_by } : undefined,
    revokedAtMs: revoked ? (row.used_at_ms ?? undefined) : undefined,
  };
}

const sha256 = (secret: Buffer): Buffer => createHash('sha256').update(secret).digest();

/** The `invites` table: single-use, short-lived pairing invites issued by this device. */
export class InviteStore {
  constructor(private readonly sql: SqlRunner) {}

  async create(invite: NewInvite, nowMs: number): Promise<void> {
    await this.sql.query(
      'INSERT INTO invites (invite_id, secret_sha256, address, created_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?)',
      [invite.inviteId, sha256(invite.secret).toString('hex'), invite.address, nowMs, invite.expiresAtMs],
    );
  }

  /**
   * Checks the secret and marks the invite used. Run it inside a write transaction, so two
   * joiners racing with the same invite cannot both succeed. Every refusal says why, except
   * that a wrong secret and an unknown invite read the same (no oracle for guessing ids).
   */
  async redeem(inviteId: string, secret: Buffer, usedBy: string, nowMs: number): Promise<void> {
    await this.check(inviteId, secret, nowMs);
    await this.sql.query('UPDATE invites SET used_at_ms = ?, used_by = ? WHERE invite_id = ?', [
      nowMs,
      usedBy,
      inviteId,
    ]);
  }

  /** The checks of `redeem`, without marking the invite used. */
  async check(inviteId: string, secret: Buffer, nowMs: number): Promise<void> {
    const [row] = await this.sql.query<InviteRow>('SELECT * FROM invites WHERE invite_id = ?', [inviteId]);
    const expected = row ? Buffer.from(row.secret_sha256, 'hex') : sha256(Buffer.from('no such invite'));
    if (!row || !timingSafeEqual(expected, sha256(secret))) {
      throw new TidemarkError(
        'INVITE_REJECTED',
        'the invite is not valid on this device (unknown invite or wrong secret)',
      );
    }
    if (row.used_at_ms !== null && row.used_by === null) {
      throw new TidemarkError(
        'INVITE_REJECTED',
        `this invite was revoked at ${new Date(row.used_at_ms).toISOString()}; ask for a new one (\`tidemark invite\`)`,
      );
    }
    if (row.used_at_ms !== null) {
      throw new TidemarkError(
        'INVITE_REJECTED',
        `this invite was already used at ${new Date(row.used_at_ms).toISOString()}; invites are single-use, ` +
          'ask for a new one (`tidemark invite`)',
      );
    }
    if (nowMs >= row.expires_at_ms) {
      throw new TidemarkError(
        'INVITE_REJECTED',
        `this invite expired at ${new Date(row.expires_at_ms).toISOString()}; ask for a new one (\`tidemark invite\`)`,
      );
    }
  }

  /** Invites that a joiner could still redeem now: unused, unrevoked, unexpired. */
  async openCount(nowMs: number): Promise<number> {
    const [row] = await this.sql.query<{ open: number }>(
      'SELECT count(*) AS open FROM invites WHERE used_at_ms IS NULL AND expires_at_ms > ?',
      [nowMs],
    );
    return row?.open ?? 0;
  }

  /** Every invite this device issued, newest first. */
  async all(): Promise<InviteRecord[]> {
    const rows = await this.sql.query<InviteRow>(
      'SELECT * FROM invites ORDER BY created_at_ms DESC, invite_id',
    );
    return rows.map(recordOf);
  }

  /**
   * Voids an unused invite, expired or not: false when it was revoked already. A used invite
   * cannot be revoked: the device it admitted is a member, removed with `tidemark peer remove`.
   */
  async revoke(inviteId: string, nowMs: number): Promise<boolean> {
    const [row] = await this.sql.query<InviteRow>('SELECT * FROM invites WHERE invite_id = ?', [inviteId]);
    if (!row) throw new TidemarkError('NOT_FOUND', `this device issued no invite ${inviteId}`);
    const invite = recordOf(row);
    if (invite.revokedAtMs !== undefined) return false;
    if (invite.used) {
      throw new TidemarkError(
        'FAILED_PRECONDITION',
        `invite ${inviteId} was used by device ${invite.used.by} at ${new Date(invite.used.atMs).toISOString()}; ` +
          'to stop trusting that device, remove it (`tidemark peer remove`)',
      );
    }
    await this.sql.query('UPDATE invites SET used_at_ms = ?, used_by = NULL WHERE invite_id = ?', [
      nowMs,
      inviteId,
    ]);
    return true;
  }
}

/** Every invite this device issued, newest first (only the hashes of their secrets are kept). */
export async function readInvites(scope: ReadScope): Promise<InviteRecord[]> {
  return new InviteStore(await runnerOf(scope)).all();
}

/**
 * Refuses pairing outright while this device has no invite a joiner could redeem: nobody was
 * invited, so the attempt is a guess or comes too late. The joiner of an expired, used or
 * revoked invite (right secret) is told which; anyone else that no invite is open.
 */
export async function refuseUnlessInviteOpen(
  scope: ReadScope,
  inviteId: string,
  secret: Buffer,
  nowMs = Date.now(),
): Promise<void> {
  const store = new InviteStore(await runnerOf(scope));
  if ((await store.openCount(nowMs)) > 0) return;
  try {
    await store.check(inviteId, secret, nowMs);
  } catch (error) {
    if (!(error instanceof TidemarkError) || !/unknown invite/.test(error.message)) throw error;
  }
  throw new TidemarkError(
    'INVITE_REJECTED',
    'this device has no open invite, so it pairs nobody; run `tidemark invite` on it first',
  );
}

/** Voids an unused invite issued by this device; false when it was revoked already. */
export async function revokeInvite(library: Library, inviteId: string): Promise<boolean> {
  return library.db.writeTransaction((sql) => new InviteStore(sql).revoke(inviteId, Date.now()));
}

/** Records an invite issued by this device; only the hash of its secret is kept. */
export async function createInvite(library: Library, invite: NewInvite): Promise<void> {
  await library.db.writeTransaction((sql) => new InviteStore(sql).create(invite, Date.now()));
}

/** What a joiner presents to redeem an invite. */
export interface InviteRedemption {
  readonly inviteId: string;
  readonly secret: Buffer;
  /** The joiner, recorded as a member once the invite checks out. */
  readonly member: NewMember;
}

/**
 * Checks an invite (known, right secret, unused, unexpired), marks it used and records its
 * holder as a member, all in one transaction: two joiners racing with the same invite cannot
 * both become members. Refusals are INVITE_REJECTED with the reason.
 */
export async function redeemInvite(library: Library, redemption: InviteRedemption): Promise<void> {
  await library.db.writeTransaction(async (sql) => {
    const { inviteId, secret, member } = redemption;
    await new InviteStore(sql).redeem(inviteId, secret, member.deviceId, Date.now());
    await new MemberStore(sql).add(member, Date.now());
  });
}
