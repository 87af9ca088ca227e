import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Divergent history after a restore (docs/architecture.md, "Restored libraries").
 *
 * `commits`: one row per write transaction that issued seqs, keyed by the highest seq it issued,
 * with a random id. The transaction that issued seq s is the row with the smallest `high_seq >= s`.
 * A database copied back from a backup keeps the rows up to the backup and then writes new ids,
 * so a cursor taken on the lost history names a commit the restored database does not have at
 * that seq. Everything committed before this migration counts as one commit.
 *
 * `resource_watermarks.peer_commit`: the commit id of the checkpoint each cursor came from, sent
 * back on resume.
 *
 * `digest_checks`: the newest anti-entropy comparison of each type with each peer. Local
 * bookkeeping, never synced: `doctor` reports a difference, `repair` fixes it.
 */
export class CommitIds1733300000000 implements MigrationInterface {
  name = 'CommitIds1733300000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE TABLE commits (
      high_seq INTEGER PRIMARY KEY NOT NULL,
      commit_id TEXT NOT NULL
    )`);
    await runner.query(
      `INSERT INTO commits (high_seq, commit_id)
       SELECT last_seq, lower(hex(randomblob(16))) FROM library_identity WHERE id = 1 AND last_seq > 0`,
    );
    await runner.query(`ALTER TABLE resource_watermarks ADD COLUMN peer_commit TEXT NOT NULL DEFAULT ''`);
    await runner.query(`CREATE TABLE digest_checks (
      peer_device_id TEXT NOT NULL,
      resource_type TEXT NOT NULL,
      checked_at_ms INTEGER NOT NULL,
      equal INTEGER NOT NULL CHECK (equal IN (0, 1)),
      local_count INTEGER NOT NULL,
      peer_count INTEGER NOT NULL,
      PRIMARY KEY (peer_device_id, resource_type)
    )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE digest_checks');
    await runner.query('ALTER TABLE resource_watermarks DROP COLUMN peer_commit');
    await runner.query('DROP TABLE commits');
  }
}
