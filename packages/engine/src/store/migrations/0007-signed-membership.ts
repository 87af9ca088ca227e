import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Membership as signed, synced library state (docs/architecture.md, "Membership"):
 * - `membership_changes`: the synced resource `membership`, one immutable signed change per row,
 *   shaped like every synced table (uuid, data columns, hlc, origin, UNIQUE seq). Certificates
 *   and signatures are stored as lowercase hex.
 * - `library_identity.root_device_id`: the founding device, whose self-signed ADD needs no other
 *   signer; '' for libraries made before it (they bridge through `membership_anchors`).
 * - `membership_anchors`: the members this device trusted locally when it was upgraded, with
 *   their certificates. A library that already had members writes signed ADDs of them from here
 *   on its first start with its key, and accepts their legacy self-signed ADDs.
 * - `members.removed_hlc`: the stamp of a member's removal, from which its rows are refused as
 *   written after it (`members` becomes a table derived from the changes once there are any).
 * - `skipped_rows`: rows a peer sent that apply skipped without rejecting the batch (written by a
 *   member after its removal, or claiming this device's identity), counted per peer, type and
 *   reason for `doctor`.
 */
export class SignedMembership1733200000000 implements MigrationInterface {
  name = 'SignedMembership1733200000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE TABLE membership_changes (
      uuid TEXT PRIMARY KEY NOT NULL,
      action INTEGER NOT NULL DEFAULT 0,
      subject TEXT NOT NULL DEFAULT '',
      subject_fingerprint TEXT NOT NULL DEFAULT '',
      certificate TEXT NOT NULL DEFAULT '',
      name TEXT NOT NULL DEFAULT '',
      legacy INTEGER NOT NULL DEFAULT 0,
      signer TEXT NOT NULL DEFAULT '',
      signature TEXT NOT NULL DEFAULT '',
      hlc TEXT NOT NULL,
      origin TEXT NOT NULL,
      seq INTEGER NOT NULL
    )`);
    await runner.query('CREATE UNIQUE INDEX membership_changes_seq ON membership_changes (seq)');
    await runner.query(`ALTER TABLE library_identity ADD COLUMN root_device_id TEXT NOT NULL DEFAULT ''`);
    await runner.query(`CREATE TABLE membership_anchors (
      device_id TEXT PRIMARY KEY NOT NULL,
      fingerprint TEXT NOT NULL,
      certificate_pem TEXT NOT NULL,
      name TEXT NOT NULL DEFAULT ''
    )`);
    await runner.query(`INSERT INTO membership_anchors (device_id, fingerprint, certificate_pem, name)
      SELECT device_id, fingerprint, certificate_pem, name FROM members WHERE removed_at_ms IS NULL`);
    await runner.query('ALTER TABLE members ADD COLUMN removed_hlc TEXT');
    await runner.query(`CREATE TABLE skipped_rows (
      peer_device_id TEXT NOT NULL,
      resource_type TEXT NOT NULL,
      reason TEXT NOT NULL,
      rows INTEGER NOT NULL DEFAULT 0,
      last_at_ms INTEGER NOT NULL,
      PRIMARY KEY (peer_device_id, resource_type, reason)
    )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE skipped_rows');
    await runner.query('ALTER TABLE members DROP COLUMN removed_hlc');
    await runner.query('DROP TABLE membership_anchors');
    await runner.query('ALTER TABLE library_identity DROP COLUMN root_device_id');
    await runner.query('DROP TABLE membership_changes');
  }
}
