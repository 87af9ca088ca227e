import { MembershipAction } from '@tidemark/proto';
import { decodeHlc } from '../hlc';
import { SqlRunner } from '../store/library-database';
import { DerivedMember, deriveMembers } from './derive-members';
import { toPem } from './self-signed-certificate';
import { SignedChange } from './signed-change';

interface ChangeRow {
  uuid: string;
  action: number;
  subject: string;
  subject_fingerprint: string;
  certificate: string;
  name: string;
  legacy: number;
  signer: string;
  signature: string;
  hlc: string;
}

const changeOf = (row: ChangeRow): SignedChange => ({
  uuid: row.uuid,
  action: row.action as MembershipAction,
  subject: row.subject,
  subjectFingerprint: row.subject_fingerprint,
  certificate: Buffer.from(row.certificate, 'hex'),
  name: row.name,
  legacy: row.legacy !== 0,
  signer: row.signer,
  signature: Buffer.from(row.signature, 'hex'),
  hlc: row.hlc,
});

/** Every stored membership change (tens of them: read whole). */
export async function storedChanges(sql: SqlRunner): Promise<SignedChange[]> {
  const rows = await sql.query<ChangeRow>(
    `SELECT uuid, action, subject, subject_fingerprint, certificate, name, legacy, signer, signature, hlc
     FROM membership_changes ORDER BY seq`,
  );
  return rows.map(changeOf);
}

/** Whether the library keeps its membership as signed changes (it has at least one). */
export async function hasSignedMembership(sql: SqlRunner): Promise<boolean> {
  const rows = await sql.query('SELECT 1 FROM membership_changes LIMIT 1');
  return rows.length > 0;
}

/** The library's root device id; '' when not known (a library made before signed membership). */
export async function rootOf(sql: SqlRunner): Promise<string> {
  const [row] = await sql.query<{ root_device_id: string }>(
    'SELECT root_device_id FROM library_identity WHERE id = 1',
  );
  return row?.root_device_id ?? '';
}

/**
 * Whether this library waits for its admission: it has a root, so it keeps signed membership,
 * but holds no ADD of itself yet. A joiner is in this state from pairing until a membership pull
 * brings its ADD (a pull cut before it leaves it there with some changes already stored).
 */
export async function awaitsAdmission(sql: SqlRunner): Promise<boolean> {
  const [row] = await sql.query<{ root_device_id: string; device_id: string }>(
    'SELECT root_device_id, device_id FROM library_identity WHERE id = 1',
  );
  if (!row || row.root_device_id === '') return false;
  const admissions = await sql.query(
    'SELECT 1 FROM membership_changes WHERE subject = ? AND action = ? LIMIT 1',
    [row.device_id, MembershipAction.MEMBERSHIP_ACTION_ADD],
  );
  return admissions.length === 0;
}

/** Which of `deviceIds` an ADD stored here names (whatever became of them since). */
export async function devicesWithAdd(sql: SqlRunner, deviceIds: readonly string[]): Promise<Set<string>> {
  if (deviceIds.length === 0) return new Set();
  const rows = await sql.query<{ subject: string }>(
    `SELECT DISTINCT subject FROM membership_changes WHERE action = ? AND subject IN (${deviceIds.map(() => '?').join(', ')})`,
    [MembershipAction.MEMBERSHIP_ACTION_ADD, ...deviceIds],
  );
  return new Set(rows.map((row) => row.subject));
}

/** The members this device trusted locally when it was upgraded to signed membership. */
export async function anchorsOf(
  sql: SqlRunner,
): Promise<{ deviceId: string; fingerprint: string; certificatePem: string; name: string }[]> {
  const rows = await sql.query<{
    device_id: string;
    fingerprint: string;
    certificate_pem: string;
    name: string;
  }>('SELECT device_id, fingerprint, certificate_pem, name FROM membership_anchors ORDER BY device_id');
  return rows.map((row) => ({
    deviceId: row.device_id,
    fingerprint: row.fingerprint,
    certificatePem: row.certificate_pem,
    name: row.name,
  }));
}

/**
 * Keeps the members this device trusted locally as anchors, when its library takes its first
 * signed changes (from then on `members` is derived and no longer says whom it paired with):
 * their legacy self-signed ADDs stay acceptable here, and the bridge vouches for them.
 */
export async function anchorLocalMembers(sql: SqlRunner): Promise<void> {
  await sql.query(`INSERT INTO membership_anchors (device_id, fingerprint, certificate_pem, name)
    SELECT device_id, fingerprint, certificate_pem, name FROM members WHERE removed_at_ms IS NULL
    ON CONFLICT DO NOTHING`);
}

/**
 * Members from the start of the sweep: the root, and the subjects of stored legacy
 * self-signed ADDs (stored only once accepted, see accept-changes.ts).
 */
export function seedsOf(changes: readonly SignedChange[], root: string): Set<string> {
  const seeds = new Set<string>(root ? [root] : []);
  for (const change of changes) {
    if (change.legacy && change.signer === change.subject) seeds.add(change.subject);
  }
  return seeds;
}

/**
 * Recomputes the derived `members` table from the stored changes, inside the caller's write
 * transaction. A library without changes keeps its local `members` (pairing wrote them): the
 * rules of libraries made before signed membership stay as they were. A joiner whose changes do
 * not admit it yet also keeps the members pairing listed (its anchors) that the changes do not
 * list: without them a membership pull cut after the first changes would leave it trusting the
 * root alone, refusing its inviter, which holds the rest. Returns the derivation.
 */
export async function rederiveMembers(sql: SqlRunner): Promise<Map<string, DerivedMember> | undefined> {
  const changes = await storedChanges(sql);
  if (changes.length === 0) return undefined;
  const members = deriveMembers(changes, seedsOf(changes, await rootOf(sql)));
  await sql.query('DELETE FROM members');
  if (await awaitsAdmission(sql)) {
    for (const anchor of await anchorsOf(sql)) {
      if (members.has(anchor.deviceId)) continue;
      await sql.query(
        `INSERT INTO members (device_id, fingerprint, certificate_pem, name, added_at_ms, added_by, removed_at_ms, removed_hlc)
         VALUES (?, ?, ?, ?, ?, '', NULL, NULL)`,
        [anchor.deviceId, anchor.fingerprint, anchor.certificatePem, anchor.name, Date.now()],
      );
    }
  }
  for (const member of members.values()) {
    const removedHlc = member.refusedFromHlc;
    // A voided identity was never a member: shown as removed from the time it was added.
    const removedAtMs =
      member.status === 'removed'
        ? decodeHlc(removedHlc!).physicalMs
        : member.status === 'voided'
          ? decodeHlc(member.addedHlc).physicalMs
          : null;
    await sql.query(
      `INSERT INTO members (device_id, fingerprint, certificate_pem, name, added_at_ms, added_by, removed_at_ms, removed_hlc)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        member.deviceId,
        member.fingerprint,
        toPem('CERTIFICATE', member.certificate),
        member.name,
        decodeHlc(member.addedHlc).physicalMs,
        member.addedBy,
        removedAtMs,
        removedHlc ?? null,
      ],
    );
  }
  return members;
}
