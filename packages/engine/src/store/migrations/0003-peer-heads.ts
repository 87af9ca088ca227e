import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What each peer said it held at the last contact, per resource type. Local bookkeeping, never
 * synced: it lets `status` and `doctor` show lag (peer head minus watermark) while offline.
 */
export class PeerHeads1732800000000 implements MigrationInterface {
  name = 'PeerHeads1732800000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE TABLE peer_heads (
      peer_device_id TEXT NOT NULL,
      resource_type TEXT NOT NULL,
      head_seq INTEGER NOT NULL,
      row_count INTEGER NOT NULL,
      tombstone_count INTEGER NOT NULL,
      max_hlc TEXT,
      seen_at_ms INTEGER NOT NULL,
      PRIMARY KEY (peer_device_id, resource_type)
    )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE peer_heads');
  }
}
