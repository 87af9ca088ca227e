import { MigrationInterface, QueryRunner } from 'typeorm';
import { RESOURCE_NAMES } from '../../resource-types';
import { RESOURCE_TABLES, sqlTypeOf } from '../resource-tables';
import { isLegacyLibrary, LEGACY_PREFIX, LEGACY_TABLES, tableExists } from './legacy-schema';

/**
 * The library schema. Every synced table carries `hlc`, `origin` and a UNIQUE `seq` so that
 * serving is a keyset scan on the seq index. There are deliberately no foreign keys between
 * synced tables: rows reference by uuid and may arrive before what they reference.
 *
 * A library of the legacy global-watermark design (see legacy-schema.ts) already has tables named
 * `devices`, `volumes`, ...: they are moved aside to `legacy_<name>` first, and migration 0002
 * brings their rows over.
 */
export class InitialSchema1732600000000 implements MigrationInterface {
  name = 'InitialSchema1732600000000';

  async up(runner: QueryRunner): Promise<void> {
    if (await isLegacyLibrary(runner)) await moveLegacyTablesAside(runner);
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
    for (const name of [...RESOURCE_NAMES].reverse()) {
      await runner.query(`DROP TABLE ${RESOURCE_TABLES[name].table}`);
    }
    for (const table of [
      'legacy_watermark_migrations',
      'resource_watermarks',
      'tombstones',
      'library_identity',
    ]) {
      await runner.query(`DROP TABLE ${table}`);
    }
  }
}

async function moveLegacyTablesAside(runner: QueryRunner): Promise<void> {
  for (const table of LEGACY_TABLES) {
    if (!(await tableExists(runner, table))) continue;
    // Index and trigger names are global in a SQLite schema and would keep their names through
    // the rename, so a legacy one could collide with ours. Only the legacy engine needed them;
    // the primary-key indexes (sql IS NULL) stay, migration 0002 joins on them.
    const owned: { type: string; name: string }[] = await runner.query(
      "SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = ? AND sql IS NOT NULL",
      [table],
    );
    for (const { type, name } of owned) {
      await runner.query(`DROP ${type.toUpperCase()} "${name.replace(/"/g, '""')}"`);
    }
    await runner.query(`ALTER TABLE ${table} RENAME TO ${LEGACY_PREFIX}${table}`);
  }
}
