import { MigrationInterface, QueryRunner } from 'typeorm';
import { isLegacyLibrary, LEGACY_PREFIX, LEGACY_TABLES, tableExists } from './legacy-schema';

/**
 * The library schema as it first shipped. Every synced table carries `hlc`, `origin` and a
 * UNIQUE `seq` so that serving is a keyset scan on the seq index. There are deliberately no
 * foreign keys between synced tables: rows reference by uuid and may arrive before what they
 * reference.
 *
 * Frozen: this is the SQL every existing library ran, byte for byte (so `sqlite_master` reads
 * the same in all of them). It must never follow the table descriptors (store/resource-tables.ts)
 * or change in any other way: a new column or table is a new migration, and
 * test/schema-migrations.test.ts checks that migrating an old library and creating a new one
 * give the same schema, the one the descriptors describe.
 *
 * A library of the legacy global-watermark design (see legacy-schema.ts) already has tables named
 * `devices`, `volumes`, ...: they are moved aside to `legacy_<name>` first, and migration 0002
 * brings their rows over.
 */
const INITIAL_SCHEMA: readonly string[] = [
  `CREATE TABLE library_identity (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      library_id TEXT NOT NULL,
      device_id TEXT NOT NULL,
      epoch TEXT NOT NULL,
      name TEXT NOT NULL DEFAULT '',
      created_at_ms INTEGER NOT NULL,
      last_seq INTEGER NOT NULL DEFAULT 0,
      hlc_floor TEXT NOT NULL DEFAULT '0000000000000000'
    )`,
  `CREATE TABLE devices (
        uuid TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        os TEXT NOT NULL DEFAULT '',
        hlc TEXT NOT NULL,
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL
      )`,
  `CREATE UNIQUE INDEX devices_seq ON devices (seq)`,
  `CREATE TABLE volumes (
        uuid TEXT PRIMARY KEY NOT NULL,
        device_uuid TEXT NOT NULL DEFAULT '',
        name TEXT NOT NULL DEFAULT '',
        mount_point TEXT NOT NULL DEFAULT '',
        filesystem TEXT NOT NULL DEFAULT '',
        capacity_bytes INTEGER NOT NULL DEFAULT 0,
        hlc TEXT NOT NULL,
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL
      )`,
  `CREATE UNIQUE INDEX volumes_seq ON volumes (seq)`,
  `CREATE INDEX volumes_owner ON volumes (device_uuid)`,
  `CREATE TABLE locations (
        uuid TEXT PRIMARY KEY NOT NULL,
        device_uuid TEXT NOT NULL DEFAULT '',
        volume_uuid TEXT NOT NULL DEFAULT '',
        path TEXT NOT NULL DEFAULT '',
        name TEXT NOT NULL DEFAULT '',
        hlc TEXT NOT NULL,
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL
      )`,
  `CREATE UNIQUE INDEX locations_seq ON locations (seq)`,
  `CREATE INDEX locations_owner ON locations (device_uuid)`,
  `CREATE TABLE content_identities (
        uuid TEXT PRIMARY KEY NOT NULL,
        content_hash TEXT NOT NULL DEFAULT '',
        size_bytes INTEGER NOT NULL DEFAULT 0,
        mime_type TEXT NOT NULL DEFAULT '',
        hlc TEXT NOT NULL,
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL
      )`,
  `CREATE UNIQUE INDEX content_identities_seq ON content_identities (seq)`,
  `CREATE TABLE entries (
        uuid TEXT PRIMARY KEY NOT NULL,
        device_uuid TEXT NOT NULL DEFAULT '',
        location_uuid TEXT NOT NULL DEFAULT '',
        parent_uuid TEXT NOT NULL DEFAULT '',
        relative_path TEXT NOT NULL DEFAULT '',
        kind INTEGER NOT NULL DEFAULT 0,
        size_bytes INTEGER NOT NULL DEFAULT 0,
        modified_at_ms INTEGER NOT NULL DEFAULT 0,
        content_uuid TEXT NOT NULL DEFAULT '',
        hlc TEXT NOT NULL,
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL
      )`,
  `CREATE UNIQUE INDEX entries_seq ON entries (seq)`,
  `CREATE INDEX entries_owner ON entries (device_uuid)`,
  `CREATE TABLE tags (
        uuid TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        color TEXT NOT NULL DEFAULT '',
        hlc TEXT NOT NULL,
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL
      )`,
  `CREATE UNIQUE INDEX tags_seq ON tags (seq)`,
  `CREATE TABLE collections (
        uuid TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        hlc TEXT NOT NULL,
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL
      )`,
  `CREATE UNIQUE INDEX collections_seq ON collections (seq)`,
  `CREATE TABLE tag_assignments (
        uuid TEXT PRIMARY KEY NOT NULL,
        tag_uuid TEXT NOT NULL DEFAULT '',
        content_uuid TEXT NOT NULL DEFAULT '',
        hlc TEXT NOT NULL,
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL
      )`,
  `CREATE UNIQUE INDEX tag_assignments_seq ON tag_assignments (seq)`,
  `CREATE INDEX entries_location ON entries (location_uuid, relative_path)`,
  `CREATE TABLE tombstones (
      resource_type TEXT NOT NULL,
      uuid TEXT NOT NULL,
      hlc TEXT NOT NULL,
      origin TEXT NOT NULL,
      seq INTEGER NOT NULL,
      PRIMARY KEY (resource_type, uuid)
    )`,
  `CREATE UNIQUE INDEX tombstones_seq ON tombstones (resource_type, seq)`,
  `CREATE TABLE resource_watermarks (
      peer_device_id TEXT NOT NULL,
      resource_type TEXT NOT NULL,
      peer_epoch TEXT NOT NULL DEFAULT '',
      last_seq INTEGER NOT NULL DEFAULT 0,
      last_hlc TEXT,
      updated_at_ms INTEGER NOT NULL,
      PRIMARY KEY (peer_device_id, resource_type)
    )`,
  `CREATE TABLE legacy_watermark_migrations (
      peer_device_id TEXT PRIMARY KEY NOT NULL,
      legacy_state_watermark TEXT,
      legacy_shared_watermark TEXT,
      migrated_at_ms INTEGER NOT NULL
    )`,
];

/** Every table 0001 creates, dropped children-last by `down`. */
const INITIAL_TABLES: readonly string[] = [
  'tag_assignments',
  'collections',
  'tags',
  'entries',
  'content_identities',
  'locations',
  'volumes',
  'devices',
  'legacy_watermark_migrations',
  'resource_watermarks',
  'tombstones',
  'library_identity',
];

export class InitialSchema1732600000000 implements MigrationInterface {
  name = 'InitialSchema1732600000000';

  async up(runner: QueryRunner): Promise<void> {
    if (await isLegacyLibrary(runner)) await moveLegacyTablesAside(runner);
    for (const statement of INITIAL_SCHEMA) await runner.query(statement);
  }

  async down(runner: QueryRunner): Promise<void> {
    for (const table of INITIAL_TABLES) await runner.query(`DROP TABLE ${table}`);
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
