import { MigrationInterface, QueryRunner } from 'typeorm';

/** Every table whose rows are served in the change sequence, tombstones included. */
const SYNCED_TABLES = [
  'membership_changes',
  'devices',
  'volumes',
  'locations',
  'content_identities',
  'entries',
  'tags',
  'collections',
  'tag_assignments',
  'tombstones',
] as const;

/**
 * Origin-aware serving (docs/architecture.md, "Origin-aware serving"):
 * - `origin_lineages`: one (origin device, origin epoch) per row, with a local id. Rows never
 *   change or go away, so a cache of them never goes stale.
 * - every synced table and `tombstones` gain `origin_seq` (the seq the version took at its origin)
 *   and `origin_lineage` (the id of its origin lineage). Rows stored before this keep 0 for both:
 *   unknown, never left out of a stream.
 * - `origin_prefixes`: what this device holds of each lineage and type, as the highest origin seq
 *   of a prefix it holds (or holds greater versions of); learned from caught-up checkpoints.
 */
export class OriginPrefixes1733400000000 implements MigrationInterface {
  name = 'OriginPrefixes1733400000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE TABLE origin_lineages (
      id INTEGER PRIMARY KEY NOT NULL,
      origin TEXT NOT NULL,
      epoch TEXT NOT NULL,
      UNIQUE (origin, epoch)
    )`);
    for (const table of SYNCED_TABLES) {
      await runner.query(`ALTER TABLE ${table} ADD COLUMN origin_seq INTEGER NOT NULL DEFAULT 0`);
      await runner.query(`ALTER TABLE ${table} ADD COLUMN origin_lineage INTEGER NOT NULL DEFAULT 0`);
    }
    await runner.query(`CREATE TABLE origin_prefixes (
      lineage INTEGER NOT NULL,
      resource_type TEXT NOT NULL,
      seq INTEGER NOT NULL,
      PRIMARY KEY (lineage, resource_type)
    )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE origin_prefixes');
    for (const table of SYNCED_TABLES) {
      await runner.query(`ALTER TABLE ${table} DROP COLUMN origin_lineage`);
      await runner.query(`ALTER TABLE ${table} DROP COLUMN origin_seq`);
    }
    await runner.query('DROP TABLE origin_lineages');
  }
}
