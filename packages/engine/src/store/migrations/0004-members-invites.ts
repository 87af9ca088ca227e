import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Security state, local to each device and never synced:
 * - `members`: the devices this device trusts in this library, each pinned by the SHA-256
 *   fingerprint of its certificate (the device id is derived from the same certificate). A
 *   removed member keeps its row, flagged by `removed_at_ms`, so its history stays explainable.
 * - `invites`: pairing invites this device issued. Only a hash of the secret is stored, so a
 *   copy of the database cannot be used to pair; `used_at_ms` makes each invite single-use.
 */
export class MembersInvites1732900000000 implements MigrationInterface {
  name = 'MembersInvites1732900000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE TABLE members (
      device_id TEXT PRIMARY KEY NOT NULL,
      fingerprint TEXT NOT NULL UNIQUE,
      certificate_pem TEXT NOT NULL,
      name TEXT NOT NULL DEFAULT '',
      added_at_ms INTEGER NOT NULL,
      added_by TEXT NOT NULL DEFAULT '',
      removed_at_ms INTEGER
    )`);
    await runner.query(`CREATE TABLE invites (
      invite_id TEXT PRIMARY KEY NOT NULL,
      secret_sha256 TEXT NOT NULL,
      address TEXT NOT NULL,
      created_at_ms INTEGER NOT NULL,
      expires_at_ms INTEGER NOT NULL,
      used_at_ms INTEGER,
      used_by TEXT
    )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE invites');
    await runner.query('DROP TABLE members');
  }
}
