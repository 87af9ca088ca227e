import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Which file the library lives in (device and inode). A library restored from a backup or copied
 * into place is a different file: its seqs went back in time while peers' cursors did not, so it
 * must take a new epoch (see Library.open). '' until the first open records it.
 */
export class FileIdentity1733000000000 implements MigrationInterface {
  name = 'FileIdentity1733000000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`ALTER TABLE library_identity ADD COLUMN file_identity TEXT NOT NULL DEFAULT ''`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('ALTER TABLE library_identity DROP COLUMN file_identity');
  }
}
