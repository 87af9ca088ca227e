import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The hub's schema in PostgreSQL: the SQLite schema as migrations 0001-0010 left it, in one
 * frozen step (a hub has no older schema to upgrade). Differences, each on purpose:
 * - every integer is BIGINT (seqs, origin seqs, byte sizes and milliseconds pass 2^31; the
 *   runner reads int8 as a JS number and refuses one beyond 2^53);
 * - `origin_lineages.id` is an identity column (SQLite's INTEGER PRIMARY KEY is its rowid);
 * - every TEXT is COLLATE "C": byte order, as SQLite compares, whatever the database's locale
 *   (a locale collation orders uuids and paths differently, ignoring hyphens);
 * - `entries_location` carries `uuid`, the tie-break of the entries keyset (SQLite's index
 *   carries the rowid).
 * Never edit this file: add a numbered migration.
 */
export const POSTGRES_INITIAL_SCHEMA: readonly string[] = [
  `CREATE TABLE library_identity (
      id BIGINT PRIMARY KEY CHECK (id = 1),
      library_id TEXT COLLATE "C" NOT NULL,
      device_id TEXT COLLATE "C" NOT NULL,
      epoch TEXT COLLATE "C" NOT NULL,
      name TEXT COLLATE "C" NOT NULL DEFAULT '',
      created_at_ms BIGINT NOT NULL,
      last_seq BIGINT NOT NULL DEFAULT 0,
      hlc_floor TEXT COLLATE "C" NOT NULL DEFAULT '0000000000000000',
      file_identity TEXT COLLATE "C" NOT NULL DEFAULT '',
      hlc_ceiling TEXT COLLATE "C" NOT NULL DEFAULT '0000000000000000',
      root_device_id TEXT COLLATE "C" NOT NULL DEFAULT ''
    )`,
  `CREATE TABLE devices (
      uuid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      name TEXT COLLATE "C" NOT NULL DEFAULT '',
      os TEXT COLLATE "C" NOT NULL DEFAULT '',
      hlc TEXT COLLATE "C" NOT NULL,
      origin TEXT COLLATE "C" NOT NULL,
      seq BIGINT NOT NULL,
      origin_seq BIGINT NOT NULL DEFAULT 0,
      origin_lineage BIGINT NOT NULL DEFAULT 0
    )`,
  `CREATE UNIQUE INDEX devices_seq ON devices (seq)`,
  `CREATE TABLE volumes (
      uuid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      device_uuid TEXT COLLATE "C" NOT NULL DEFAULT '',
      name TEXT COLLATE "C" NOT NULL DEFAULT '',
      mount_point TEXT COLLATE "C" NOT NULL DEFAULT '',
      filesystem TEXT COLLATE "C" NOT NULL DEFAULT '',
      capacity_bytes BIGINT NOT NULL DEFAULT 0,
      hlc TEXT COLLATE "C" NOT NULL,
      origin TEXT COLLATE "C" NOT NULL,
      seq BIGINT NOT NULL,
      origin_seq BIGINT NOT NULL DEFAULT 0,
      origin_lineage BIGINT NOT NULL DEFAULT 0
    )`,
  `CREATE UNIQUE INDEX volumes_seq ON volumes (seq)`,
  `CREATE INDEX volumes_owner ON volumes (device_uuid)`,
  `CREATE TABLE locations (
      uuid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      device_uuid TEXT COLLATE "C" NOT NULL DEFAULT '',
      volume_uuid TEXT COLLATE "C" NOT NULL DEFAULT '',
      path TEXT COLLATE "C" NOT NULL DEFAULT '',
      name TEXT COLLATE "C" NOT NULL DEFAULT '',
      hlc TEXT COLLATE "C" NOT NULL,
      origin TEXT COLLATE "C" NOT NULL,
      seq BIGINT NOT NULL,
      origin_seq BIGINT NOT NULL DEFAULT 0,
      origin_lineage BIGINT NOT NULL DEFAULT 0
    )`,
  `CREATE UNIQUE INDEX locations_seq ON locations (seq)`,
  `CREATE INDEX locations_owner ON locations (device_uuid)`,
  `CREATE TABLE content_identities (
      uuid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      content_hash TEXT COLLATE "C" NOT NULL DEFAULT '',
      size_bytes BIGINT NOT NULL DEFAULT 0,
      mime_type TEXT COLLATE "C" NOT NULL DEFAULT '',
      hlc TEXT COLLATE "C" NOT NULL,
      origin TEXT COLLATE "C" NOT NULL,
      seq BIGINT NOT NULL,
      origin_seq BIGINT NOT NULL DEFAULT 0,
      origin_lineage BIGINT NOT NULL DEFAULT 0
    )`,
  `CREATE UNIQUE INDEX content_identities_seq ON content_identities (seq)`,
  `CREATE TABLE entries (
      uuid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      device_uuid TEXT COLLATE "C" NOT NULL DEFAULT '',
      location_uuid TEXT COLLATE "C" NOT NULL DEFAULT '',
      parent_uuid TEXT COLLATE "C" NOT NULL DEFAULT '',
      relative_path TEXT COLLATE "C" NOT NULL DEFAULT '',
      kind BIGINT NOT NULL DEFAULT 0,
      size_bytes BIGINT NOT NULL DEFAULT 0,
      modified_at_ms BIGINT NOT NULL DEFAULT 0,
      content_uuid TEXT COLLATE "C" NOT NULL DEFAULT '',
      hlc TEXT COLLATE "C" NOT NULL,
      origin TEXT COLLATE "C" NOT NULL,
      seq BIGINT NOT NULL,
      origin_seq BIGINT NOT NULL DEFAULT 0,
      origin_lineage BIGINT NOT NULL DEFAULT 0
    )`,
  `CREATE UNIQUE INDEX entries_seq ON entries (seq)`,
  `CREATE INDEX entries_owner ON entries (device_uuid)`,
  `CREATE TABLE tags (
      uuid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      name TEXT COLLATE "C" NOT NULL DEFAULT '',
      color TEXT COLLATE "C" NOT NULL DEFAULT '',
      hlc TEXT COLLATE "C" NOT NULL,
      origin TEXT COLLATE "C" NOT NULL,
      seq BIGINT NOT NULL,
      origin_seq BIGINT NOT NULL DEFAULT 0,
      origin_lineage BIGINT NOT NULL DEFAULT 0
    )`,
  `CREATE UNIQUE INDEX tags_seq ON tags (seq)`,
  `CREATE TABLE collections (
      uuid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      name TEXT COLLATE "C" NOT NULL DEFAULT '',
      description TEXT COLLATE "C" NOT NULL DEFAULT '',
      hlc TEXT COLLATE "C" NOT NULL,
      origin TEXT COLLATE "C" NOT NULL,
      seq BIGINT NOT NULL,
      origin_seq BIGINT NOT NULL DEFAULT 0,
      origin_lineage BIGINT NOT NULL DEFAULT 0
    )`,
  `CREATE UNIQUE INDEX collections_seq ON collections (seq)`,
  `CREATE TABLE tag_assignments (
      uuid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      tag_uuid TEXT COLLATE "C" NOT NULL DEFAULT '',
      content_uuid TEXT COLLATE "C" NOT NULL DEFAULT '',
      hlc TEXT COLLATE "C" NOT NULL,
      origin TEXT COLLATE "C" NOT NULL,
      seq BIGINT NOT NULL,
      origin_seq BIGINT NOT NULL DEFAULT 0,
      origin_lineage BIGINT NOT NULL DEFAULT 0
    )`,
  `CREATE UNIQUE INDEX tag_assignments_seq ON tag_assignments (seq)`,
  `CREATE TABLE membership_changes (
      uuid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      action BIGINT NOT NULL DEFAULT 0,
      subject TEXT COLLATE "C" NOT NULL DEFAULT '',
      subject_fingerprint TEXT COLLATE "C" NOT NULL DEFAULT '',
      certificate TEXT COLLATE "C" NOT NULL DEFAULT '',
      name TEXT COLLATE "C" NOT NULL DEFAULT '',
      legacy BIGINT NOT NULL DEFAULT 0,
      signer TEXT COLLATE "C" NOT NULL DEFAULT '',
      signature TEXT COLLATE "C" NOT NULL DEFAULT '',
      hlc TEXT COLLATE "C" NOT NULL,
      origin TEXT COLLATE "C" NOT NULL,
      seq BIGINT NOT NULL,
      origin_seq BIGINT NOT NULL DEFAULT 0,
      origin_lineage BIGINT NOT NULL DEFAULT 0
    )`,
  `CREATE UNIQUE INDEX membership_changes_seq ON membership_changes (seq)`,
  `CREATE INDEX entries_location ON entries (location_uuid, relative_path, uuid)`,
  `CREATE TABLE tombstones (
      resource_type TEXT COLLATE "C" NOT NULL,
      uuid TEXT COLLATE "C" NOT NULL,
      hlc TEXT COLLATE "C" NOT NULL,
      origin TEXT COLLATE "C" NOT NULL,
      seq BIGINT NOT NULL,
      origin_seq BIGINT NOT NULL DEFAULT 0,
      origin_lineage BIGINT NOT NULL DEFAULT 0,
      PRIMARY KEY (resource_type, uuid)
    )`,
  `CREATE UNIQUE INDEX tombstones_seq ON tombstones (resource_type, seq)`,
  `CREATE TABLE resource_watermarks (
      peer_device_id TEXT COLLATE "C" NOT NULL,
      resource_type TEXT COLLATE "C" NOT NULL,
      peer_epoch TEXT COLLATE "C" NOT NULL DEFAULT '',
      last_seq BIGINT NOT NULL DEFAULT 0,
      last_hlc TEXT COLLATE "C",
      updated_at_ms BIGINT NOT NULL,
      peer_commit TEXT COLLATE "C" NOT NULL DEFAULT '',
      PRIMARY KEY (peer_device_id, resource_type)
    )`,
  `CREATE TABLE legacy_watermark_migrations (
      peer_device_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      legacy_state_watermark TEXT COLLATE "C",
      legacy_shared_watermark TEXT COLLATE "C",
      migrated_at_ms BIGINT NOT NULL
    )`,
  `CREATE TABLE peer_heads (
      peer_device_id TEXT COLLATE "C" NOT NULL,
      resource_type TEXT COLLATE "C" NOT NULL,
      head_seq BIGINT NOT NULL,
      row_count BIGINT NOT NULL,
      tombstone_count BIGINT NOT NULL,
      max_hlc TEXT COLLATE "C",
      seen_at_ms BIGINT NOT NULL,
      PRIMARY KEY (peer_device_id, resource_type)
    )`,
  `CREATE TABLE members (
      device_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      fingerprint TEXT COLLATE "C" NOT NULL UNIQUE,
      certificate_pem TEXT COLLATE "C" NOT NULL,
      name TEXT COLLATE "C" NOT NULL DEFAULT '',
      added_at_ms BIGINT NOT NULL,
      added_by TEXT COLLATE "C" NOT NULL DEFAULT '',
      removed_at_ms BIGINT,
      removed_hlc TEXT COLLATE "C"
    )`,
  `CREATE TABLE invites (
      invite_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      secret_sha256 TEXT COLLATE "C" NOT NULL,
      address TEXT COLLATE "C" NOT NULL,
      created_at_ms BIGINT NOT NULL,
      expires_at_ms BIGINT NOT NULL,
      used_at_ms BIGINT,
      used_by TEXT COLLATE "C"
    )`,
  `CREATE TABLE peer_clocks (
      peer_device_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      offset_ms BIGINT NOT NULL,
      round_trip_ms BIGINT,
      measured_at_ms BIGINT NOT NULL
    )`,
  `CREATE TABLE membership_anchors (
      device_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
      fingerprint TEXT COLLATE "C" NOT NULL,
      certificate_pem TEXT COLLATE "C" NOT NULL,
      name TEXT COLLATE "C" NOT NULL DEFAULT ''
    )`,
  `CREATE TABLE commits (
      high_seq BIGINT PRIMARY KEY NOT NULL,
      commit_id TEXT COLLATE "C" NOT NULL
    )`,
  `CREATE TABLE digest_checks (
      peer_device_id TEXT COLLATE "C" NOT NULL,
      resource_type TEXT COLLATE "C" NOT NULL,
      checked_at_ms BIGINT NOT NULL,
      equal BIGINT NOT NULL CHECK (equal IN (0, 1)),
      local_count BIGINT NOT NULL,
      peer_count BIGINT NOT NULL,
      PRIMARY KEY (peer_device_id, resource_type)
    )`,
  `CREATE TABLE origin_lineages (
      id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      origin TEXT COLLATE "C" NOT NULL,
      epoch TEXT COLLATE "C" NOT NULL,
      UNIQUE (origin, epoch)
    )`,
  `CREATE TABLE origin_prefixes (
      lineage BIGINT NOT NULL,
      resource_type TEXT COLLATE "C" NOT NULL,
      seq BIGINT NOT NULL,
      PRIMARY KEY (lineage, resource_type)
    )`,
  `CREATE TABLE skipped_rows (
      peer_device_id TEXT COLLATE "C" NOT NULL,
      origin_device_id TEXT COLLATE "C" NOT NULL,
      resource_type TEXT COLLATE "C" NOT NULL,
      reason TEXT COLLATE "C" NOT NULL,
      rows BIGINT NOT NULL DEFAULT 0,
      last_at_ms BIGINT NOT NULL,
      PRIMARY KEY (peer_device_id, origin_device_id, resource_type, reason)
    )`,
];

export class PostgresInitialSchema1764900000000 implements MigrationInterface {
  name = 'PostgresInitialSchema1764900000000';

  async up(runner: QueryRunner): Promise<void> {
    for (const statement of POSTGRES_INITIAL_SCHEMA) await runner.query(statement);
  }

  async down(): Promise<void> {
    throw new Error('the initial schema of a hub is not undone: drop the schema instead');
  }
}
