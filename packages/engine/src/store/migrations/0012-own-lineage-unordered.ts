import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `library_identity.own_lineage_unordered_epoch`: the epoch in which this database may hold
 * versions of its own lineage at seqs other than their origin seqs, '' while it holds none. Set
 * when an apply adopts rows of this device's own identity (`tidemark repair --adopt-own`, after a
 * restore) and when a peer's cursor shows that this database's history changed under its epoch.
 * While it names the current epoch, a page served before `caught_up` claims nothing of this
 * device's lineage (docs/architecture.md, "Own-lineage coverage before caught_up").
 */
export class OwnLineageUnordered1733700000000 implements MigrationInterface {
  name = 'OwnLineageUnordered1733700000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(
      `ALTER TABLE library_identity ADD COLUMN own_lineage_unordered_epoch TEXT NOT NULL DEFAULT ''`,
    );
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('ALTER TABLE library_identity DROP COLUMN own_lineage_unordered_epoch');
  }
}
