import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Which file on disk each of this device's entries was indexed from: the device, inode and
 * birth time (ms, 0 where the file system keeps none) that `lstat` reports; the birth time tells
 * a file from a later one given the same inode number. Local to this library, never synced (an inode means nothing on another
 * machine): an indexer that finds a new path whose file it has seen at a path now gone knows
 * the file was renamed or moved, and keeps the entry's uuid instead of deleting and creating it.
 * Looked up by inode within a location; entries indexed before this have no row until their next
 * index.
 */
export class EntryFileIds1733600000000 implements MigrationInterface {
  name = 'EntryFileIds1733600000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE TABLE entry_file_ids (
      entry_uuid TEXT PRIMARY KEY NOT NULL,
      location_uuid TEXT NOT NULL,
      device INTEGER NOT NULL,
      inode INTEGER NOT NULL,
      birth_ms INTEGER NOT NULL
    )`);
    await runner.query('CREATE INDEX entry_file_ids_inode ON entry_file_ids (location_uuid, inode)');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE entry_file_ids');
  }
}
