import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The hub's `entry_file_ids`: the same table as SQLite migration 0011 (which file on disk each
 * of this device's entries was indexed from, local and never synced). Never edit this file: add
 * a numbered migration.
 */
export class PostgresEntryFileIds1764900100000 implements MigrationInterface {
  name = 'PostgresEntryFileIds1764900100000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE TABLE entry_file_ids (
      entry_uuid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      location_uuid TEXT COLLATE "C" NOT NULL,
      device BIGINT NOT NULL,
      inode BIGINT NOT NULL,
      birth_ms BIGINT NOT NULL
    )`);
    await runner.query('CREATE INDEX entry_file_ids_inode ON entry_file_ids (location_uuid, inode)');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE entry_file_ids');
  }
}
