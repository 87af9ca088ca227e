import { createHash, timingSafeEqual } from 'node:crypto';
import { TidemarkError } from '../errors';
import type { Library } from '../library';
import { SqlRunner } from '../store/library-database';
import { MemberStore, NewMember } from './members';

export interface NewInvite {
  readonly inviteId: string;
  readonly secret: Buffer;
  /** Where the joiner should dial; kept for `peer list` and the audit trail. */
  readonly address: string;
  readonly expiresAtMs: number;
}

interface InviteRow {
  invite_id: string;
  secret_sha256: string;
  expires_at_ms: number;
  used_at_ms: number | null;
  used_by: string | null;
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
    const [row] = await this.sql.query<InviteRow>('SELECT * FROM invites WHERE invite_id = ?', [inviteId]);
    const expected = row ? Buffer.from(row.secret_sha256, 'hex') : sha256(Buffer.from('no such invite'));
    if (!row || !timingSafeEqual(expected, sha256(secret))) {
      throw new TidemarkError(
        'INVITE_REJECTED',
        'the invite is not valid on this device (unknown invite or wrong secret)',
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
    await this.sql.query('UPDATE invites SET used_at_ms = ?, used_by = ? WHERE invite_id = ?', [
      nowMs,
      usedBy,
      inviteId,
    ]);
  }
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
