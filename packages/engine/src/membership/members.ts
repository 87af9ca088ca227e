import type { Library } from '../library';
import { selectRecord } from '../reads/stored-records';
import { ReadScope, runnerOf } from '../reads/scope';
import { SqlRunner } from '../store/library-database';

/** A device this device trusts in the library, pinned by its certificate. */
export interface Member {
  /** UUID derived from the certificate (see docs/security.md). */
  readonly deviceId: string;
  /** Lowercase hex SHA-256 of the certificate's DER encoding. */
  readonly fingerprint: string;
  readonly certificatePem: string;
  readonly name: string;
  readonly addedAtMs: number;
  /** Device id of whoever vouched for it: this device (pairing) or the inviter (join). */
  readonly addedBy: string;
  /** Set once removed: a removed member is refused everywhere but its row is kept. */
  readonly removedAtMs: number | undefined;
}

export type NewMember = Pick<Member, 'deviceId' | 'fingerprint' | 'certificatePem' | 'name' | 'addedBy'>;

interface MemberRow {
  device_id: string;
  fingerprint: string;
  certificate_pem: string;
  name: string;
  added_at_ms: number;
  added_by: string;
  removed_at_ms: number | null;
}

function fromRow(row: MemberRow): Member {
  return {
    deviceId: row.device_id,
    fingerprint: row.fingerprint,
    certificatePem: row.certificate_pem,
    name: row.name,
    addedAtMs: row.added_at_ms,
    addedBy: row.added_by,
    removedAtMs: row.removed_at_ms ?? undefined,
  };
}

/** The `members` table. Local to this device: membership is never taken from synced data. */
export class MemberStore {
  constructor(private readonly sql: SqlRunner) {}

  /** Every member ever recorded, removed ones included, oldest first. */
  async all(): Promise<Member[]> {
    const rows = await this.sql.query<MemberRow>('SELECT * FROM members ORDER BY added_at_ms, device_id');
    return rows.map(fromRow);
  }

  async active(): Promise<Member[]> {
    return (await this.all()).filter((member) => member.removedAtMs === undefined);
  }

  async get(deviceId: string): Promise<Member | undefined> {
    const [row] = await this.sql.query<MemberRow>('SELECT * FROM members WHERE device_id = ?', [deviceId]);
    return row ? fromRow(row) : undefined;
  }

  /**
   * Records a member, or re-admits a removed one. Pairing again is an explicit act of the
   * operator, so it is allowed to undo a removal.
   */
  async add(member: NewMember, nowMs: number): Promise<void> {
    await this.sql.query(
      `INSERT INTO members (device_id, fingerprint, certificate_pem, name, added_at_ms, added_by, removed_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, NULL)
       ON CONFLICT (device_id) DO UPDATE SET fingerprint = excluded.fingerprint,
         certificate_pem = excluded.certificate_pem, name = excluded.name,
         added_at_ms = excluded.added_at_ms, added_by = excluded.added_by, removed_at_ms = NULL`,
      [member.deviceId, member.fingerprint, member.certificatePem, member.name, nowMs, member.addedBy],
    );
  }

  /** Flags a member as removed; false when it is unknown or already removed. */
  async remove(deviceId: string, nowMs: number): Promise<boolean> {
    const member = await this.get(deviceId);
    if (!member || member.removedAtMs !== undefined) return false;
    await this.sql.query('UPDATE members SET removed_at_ms = ? WHERE device_id = ?', [nowMs, deviceId]);
    return true;
  }
}

/*
 * What code outside the engine may do with members. Membership is local state today and will
 * become synced library state: these few functions are the whole surface, so that change stays
 * inside the engine.
 */

/** Every member ever recorded here, removed ones included, oldest first. */
export async function readMembers(scope: ReadScope): Promise<Member[]> {
  return new MemberStore(await runnerOf(scope)).all();
}

/**
 * The name to show for a device: the one membership gives it (its ADD, or the newest
 * `signMemberRename`, which any member may sign), else its own device row's; '' when neither
 * names it. So every command shows a renamed device by its new name, although the device row
 * (which only that device writes) keeps the name it joined with.
 */
export async function readDeviceName(scope: ReadScope, deviceId: string): Promise<string> {
  const sql = await runnerOf(scope);
  const member = await new MemberStore(sql).get(deviceId);
  if (member?.name) return member.name;
  return (await selectRecord(sql, 'device', deviceId))?.name ?? '';
}

/** The members this device trusts now, oldest first. */
export async function readActiveMembers(scope: ReadScope): Promise<Member[]> {
  return new MemberStore(await runnerOf(scope)).active();
}

/**
 * Records members in one transaction (re-admitting removed ones): what a completed pairing
 * leaves behind on the joiner, which learns the inviter and every member the inviter knows.
 */
export async function addMembers(library: Library, members: readonly NewMember[]): Promise<void> {
  await library.db.writeTransaction(async (sql) => {
    const store = new MemberStore(sql);
    for (const member of members) await store.add(member, Date.now());
  });
}

/** Stops trusting a device; false when it is unknown or already removed. */
export async function removeMember(library: Library, deviceId: string): Promise<boolean> {
  return library.db.writeTransaction((sql) => new MemberStore(sql).remove(deviceId, Date.now()));
}
