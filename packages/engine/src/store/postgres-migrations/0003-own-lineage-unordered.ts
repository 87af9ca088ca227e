import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The hub's `library_identity.own_lineage_unordered_epoch`: the same column as SQLite migration
 * 0012 (the epoch in which this database may hold versions of its own lineage at seqs other than
 * their origin seqs). Never edit this file: add a numbered migration.
 */
export class PostgresOwnLineageUnordered1764900200000 implements MigrationInterface {
  name = 'PostgresOwnLineageUnordered1764900200000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(
      `ALTER TABLE library_identity ADD COLUMN own_lineage_unordered_epoch TEXT COLLATE "C" NOT NULL DEFAULT ''`,
    );
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('ALTER TABLE library_identity DROP COLUMN own_lineage_unordered_epoch');
  }
}
