import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `skipped_rows` gains the device that wrote the skipped rows (`origin_device_id`), in its key:
 * rows of a removed member reach a device through any relay, so the peer alone does not say whose
 * rows they were, and `doctor` reports them per type and origin. Rows counted before this are
 * kept: a skip for this device's own identity had this device as origin; a skip after removal did
 * not record its origin, so it keeps '' (unknown).
 */
export class SkippedRowsOrigin1733500000000 implements MigrationInterface {
  name = 'SkippedRowsOrigin1733500000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE TABLE skipped_rows_by_origin (
      peer_device_id TEXT NOT NULL,
      origin_device_id TEXT NOT NULL,
      resource_type TEXT NOT NULL,
      reason TEXT NOT NULL,
      rows INTEGER NOT NULL DEFAULT 0,
      last_at_ms INTEGER NOT NULL,
      PRIMARY KEY (peer_device_id, origin_device_id, resource_type, reason)
    )`);
    await runner.query(`INSERT INTO skipped_rows_by_origin
      (peer_device_id, origin_device_id, resource_type, reason, rows, last_at_ms)
      SELECT peer_device_id,
        CASE reason WHEN 'own_identity' THEN (SELECT device_id FROM library_identity WHERE id = 1) ELSE '' END,
        resource_type, reason, rows, last_at_ms
      FROM skipped_rows`);
    await runner.query('DROP TABLE skipped_rows');
    await runner.query('ALTER TABLE skipped_rows_by_origin RENAME TO skipped_rows');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE TABLE skipped_rows_by_peer (
      peer_device_id TEXT NOT NULL,
      resource_type TEXT NOT NULL,
      reason TEXT NOT NULL,
      rows INTEGER NOT NULL DEFAULT 0,
      last_at_ms INTEGER NOT NULL,
      PRIMARY KEY (peer_device_id, resource_type, reason)
    )`);
    await runner.query(`INSERT INTO skipped_rows_by_peer (peer_device_id, resource_type, reason, rows, last_at_ms)
      SELECT peer_device_id, resource_type, reason, SUM(rows), MAX(last_at_ms)
      FROM skipped_rows GROUP BY peer_device_id, resource_type, reason`);
    await runner.query('DROP TABLE skipped_rows');
    await runner.query('ALTER TABLE skipped_rows_by_peer RENAME TO skipped_rows');
  }
}
