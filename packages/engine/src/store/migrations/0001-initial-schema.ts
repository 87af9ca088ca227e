import { MigrationInterface, QueryRunner } from 'typeorm';
import { RESOURCE_NAMES } from '../../resource-types';
import { RESOURCE_TABLES, sqlTypeOf } from '../resource-tables';

/**
 * The library schema. Every synced table carries `hlc`, `origin` and a UNIQUE `seq` so that
 * serving is a keyset scan on the seq index. There are deliberately no foreign keys between
 * synced tables: rows reference by uuid and may arrive before what they reference.
 */
export class InitialSchema1732600000000 implements MigrationInterface {
  name = 'InitialSchema1732600000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE TABLE library_identity (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      library_id TEXT NOT NULL,
      device_id TEXT NOT NULL,
      epoch TEXT NOT NULL,
      name TEXT NOT NULL DEFAULT '',
      created_at_ms INTEGER NOT NULL,
      last_seq INTEGER NOT NULL DEFAULT 0,
      hlc_floor TEXT NOT NULL DEFAULT '0000000000000000'
    )`);
    for (const name of RESOURCE_NAMES) {
      const table = RESOURCE_TABLES[name];
      const dataColumns = table.fields.map((field) => `${field.column} ${sqlTypeOf(field.kind)}`);
      await runner.query(`CREATE TABLE ${table.table} (
        uuid TEXT PRIMARY KEY NOT NULL,
        ${dataColumns.join(',\n        ')},
        hlc TEXT NOT NULL,
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL
      )`);
      await runner.query(`CREATE UNIQUE INDEX ${table.table}_seq ON ${table.table} (seq)`);
      if (table.ownerField && table.ownerField !== 'uuid') {
        await runner.query(`CREATE INDEX ${table.table}_owner ON ${table.table} (device_uuid)`);
      }
    }
    await runner.query(`CREATE INDEX entries_location ON entries (location_uuid, relative_path)`);
    await runner.query(`CREATE TABLE tombstones (
      resource_type TEXT NOT NULL,
      uuid TEXT NOT NULL,
      hlc TEXT NOT NULL,
      origin TEXT NOT NULL,
      seq INTEGER NOT NULL,
      PRIMARY KEY (resource_type, uuid)
    )`);
    await runner.query(`CREATE UNIQUE INDEX tombstones_seq ON tombstones (resource_type, seq)`);
    await runner.query(`CREATE TABLE resource_watermarks (
      peer_device_id TEXT NOT NULL,
      resource_type TEXT NOT NULL,
      peer_epoch TEXT NOT NULL DEFAULT '',
      last_seq INTEGER NOT NULL DEFAULT 0,
      last_hlc TEXT,
      updated_at_ms INTEGER NOT NULL,
      PRIMARY KEY (peer_device_id, resource_type)
    )`);
    // Kept for `tidemark doctor`: which peers a legacy global watermark was dropped for.
    await runner.query(`CREATE TABLE legacy_watermark_migrations (
      peer_device_id TEXT PRIMARY KEY NOT NULL,
      legacy_state_watermark TEXT,
      legacy_shared_watermark TEXT,
      migrated_at_ms INTEGER NOT NULL
    )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    for (const name of [...RESOURCE_NAMES].reverse()) await runner.query(`DROP TABLE ${RESOURCE_TABLES[name].table}`);
    for (const table of ['legacy_watermark_migrations', 'resource_watermarks', 'tombstones', 'library_identity']) {
      await runner.query(`DROP TABLE ${table}`);
    }
  }
}
