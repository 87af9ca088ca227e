import { createHash, timingSafeEqual } from 'node:crypto';
import { TidemarkError } from '../errors';
import { SqlRunner } from '../store/library-database';

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
