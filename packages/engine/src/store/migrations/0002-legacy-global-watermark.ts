import { randomUUID } from 'node:crypto';
import { MigrationInterface, QueryRunner } from 'typeorm';
import {
  isLowercaseUuid,
  LEGACY_PREFIX,
  LEGACY_TABLES,
  legacyDataError,
  LegacyStamp,
  parseLegacyHlc,
  parseLegacyTime,
  stampText,
  tableExists,
} from './legacy-schema';

/** Legacy rows are read this many at a time: a 500k-entry library never sits in memory at once. */
const CHUNK_ROWS = 5_000;

/** Holds each legacy row's new version and seq until the copy; dropped with the legacy tables. */
const STAMPS = `${LEGACY_PREFIX}migration_stamps`;

/**
 * Legacy device rows carry no time. They get the lowest valid stamp: it is the same on every
 * member that migrates the same library, so re-syncing after migration skips them instead of
 * rewriting them, and any write by the owner under Tidemark wins over it.
 */
export const LEGACY_DEVICE_STAMP: LegacyStamp = { physicalMs: 1, logical: 0 };

/** Where a legacy row's version comes from. */
type LegacyVersion =
  | { readonly kind: 'none' }
  | { readonly kind: 'time'; readonly column: 'updated_at' | 'indexed_at'; readonly owner: 'device_uuid' }
  | { readonly kind: 'hlc' };

interface LegacyType {
  /** The `resource_type` it is recorded under (tombstones, watermarks). */
  readonly name: string;
  /** Its table, in both schemas; the legacy one is renamed to `legacy_<table>` by 0001. */
  readonly table: string;
  readonly version: LegacyVersion;
  /**
   * Its data columns as 0001 created them, each with the value a legacy NULL becomes (optional
   * references and counts may be NULL in the legacy schema; Tidemark stores '' and 0).
   */
  readonly columns: readonly (readonly [column: string, ifNull: "''" | '0'])[];
}

/**
 * The resource types as this migration was written for them, in dependency order (a type's rank
 * breaks seq ties). Frozen like all migrations: a field or type added later must not change
 * what this migration does, and 0001's tables never gain a column before this runs.
 */
const LEGACY_TYPES: readonly LegacyType[] = [
  {
    name: 'device',
    table: 'devices',
    version: { kind: 'none' },
    columns: [
      ['name', "''"],
      ['os', "''"],
    ],
  },
  {
    name: 'volume',
    table: 'volumes',
    version: { kind: 'time', column: 'updated_at', owner: 'device_uuid' },
    columns: [
      ['device_uuid', "''"],
      ['name', "''"],
      ['mount_point', "''"],
      ['filesystem', "''"],
      ['capacity_bytes', '0'],
    ],
  },
  {
    name: 'location',
    table: 'locations',
    version: { kind: 'time', column: 'updated_at', owner: 'device_uuid' },
    columns: [
      ['device_uuid', "''"],
      ['volume_uuid', "''"],
      ['path', "''"],
      ['name', "''"],
    ],
  },
  {
    name: 'content_identity',
    table: 'content_identities',
    version: { kind: 'hlc' },
    columns: [
      ['content_hash', "''"],
      ['size_bytes', '0'],
      ['mime_type', "''"],
    ],
  },
  {
    name: 'entry',
    table: 'entries',
    version: { kind: 'time', column: 'indexed_at', owner: 'device_uuid' },
    columns: [
      ['device_uuid', "''"],
      ['location_uuid', "''"],
      ['parent_uuid', "''"],
      ['relative_path', "''"],
      ['kind', '0'],
      ['size_bytes', '0'],
      ['modified_at_ms', '0'],
      ['content_uuid', "''"],
    ],
  },
  {
    name: 'tag',
    table: 'tags',
    version: { kind: 'hlc' },
    columns: [
      ['name', "''"],
      ['color', "''"],
    ],
  },
  {
    name: 'collection',
    table: 'collections',
    version: { kind: 'hlc' },
    columns: [
      ['name', "''"],
      ['description', "''"],
    ],
  },
  {
    name: 'tag_assignment',
    table: 'tag_assignments',
    version: { kind: 'hlc' },
    columns: [
      ['tag_uuid', "''"],
      ['content_uuid', "''"],
    ],
  },
];

/** An empty library's HLC floor: the zero stamp. */
const ZERO_FLOOR = '0000000000000000';

interface LegacyRow {
  uuid: unknown;
  version: unknown;
  owner: unknown;
}

/**
 * Moves a library of the legacy global-watermark design (renamed to `legacy_*` by 0001) into
 * the Tidemark tables, and restarts every resource type of every legacy peer from zero.
 *
 * The legacy `devices.last_state_watermark` is the global-watermark bug: one timestamp stood for
 * every device-owned type of a peer, so a resumed backfill skipped every volume and location older
 * than the last entry batch. Whatever this library holds of a peer may have such holes, so the
 * legacy value is never turned into a cursor. It is kept, with the shared HLC watermark, in
 * `legacy_watermark_migrations` for `tidemark doctor`, and the next sync re-reads everything from
 * each peer; idempotent apply skips the rows this library already holds, so the re-run costs
 * transfer, not writes.
 *
 * Versions are taken from the legacy data itself (row time, legacy HLC), so every member that
 * migrates the same rows gives them the same version, and rows lost to the bug arrive as new.
 *
 * It runs in the one transaction of every pending migration (store/library-database.ts): it applies
 * whole or not at all, and after a failure (corrupt legacy data) 0001's renames are rolled back
 * too, so the next open retries both from the legacy library as it was.
 */
export class LegacyGlobalWatermark1732700000000 implements MigrationInterface {
  name = 'LegacyGlobalWatermark1732700000000';

  async up(runner: QueryRunner): Promise<void> {
    if (!(await tableExists(runner, `${LEGACY_PREFIX}devices`))) return;
    const nowMs = Date.now();
    const library = await readLegacyLibrary(runner);

    await runner.query(`CREATE TABLE ${STAMPS} (
      resource_type TEXT NOT NULL,
      uuid TEXT NOT NULL,
      hlc TEXT NOT NULL,
      origin TEXT NOT NULL,
      type_rank INTEGER NOT NULL,
      seq INTEGER,
      PRIMARY KEY (resource_type, uuid)
    )`);
    for (const [rank, type] of LEGACY_TYPES.entries()) await stampLegacyRows(runner, type, rank);

    // The order the legacy engine wrote the rows in: by time (and legacy counter), then uuid. The
    // type's rank only breaks a tie of one uuid used in two tables, so the result is total.
    await runner.query(
      `UPDATE ${STAMPS} SET seq = ordered.seq FROM (
         SELECT resource_type, uuid, row_number() OVER (ORDER BY hlc, uuid, type_rank) AS seq FROM ${STAMPS}
       ) AS ordered
       WHERE ${STAMPS}.resource_type = ordered.resource_type AND ${STAMPS}.uuid = ordered.uuid`,
    );
    for (const type of LEGACY_TYPES) await copyLegacyRows(runner, type);

    const [{ n, floor }]: { n: number; floor: string | null }[] = await runner.query(
      `SELECT count(*) AS n, max(hlc) AS floor FROM ${STAMPS}`,
    );
    // A new epoch: this database's seqs mean nothing any peer has seen, so no cursor may carry over.
    await runner.query(
      `INSERT INTO library_identity (id, library_id, device_id, epoch, name, created_at_ms, last_seq, hlc_floor)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?)`,
      [library.libraryId, library.deviceId, randomUUID(), library.name, nowMs, n, floor ?? ZERO_FLOOR],
    );

    await restartLegacyPeers(runner, library.deviceId, nowMs);

    await runner.query(`DROP TABLE ${STAMPS}`);
    // Children first: a legacy schema with foreign keys refuses to drop a parent that still has rows
    // pointing at it.
    for (const table of [...LEGACY_TABLES].reverse()) {
      if (await tableExists(runner, `${LEGACY_PREFIX}${table}`)) {
        await runner.query(`DROP TABLE ${LEGACY_PREFIX}${table}`);
      }
    }
  }

  async down(): Promise<void> {
    // The legacy shape is not rebuilt: its rows live on in the Tidemark tables, and its global
    // watermark must never be used again.
  }
}

async function readLegacyLibrary(
  runner: QueryRunner,
): Promise<{ libraryId: string; deviceId: string; name: string }> {
  if (!(await tableExists(runner, `${LEGACY_PREFIX}library`)))
    throw legacyDataError('it has no `library` table');
  const rows: { library_id: unknown; device_uuid: unknown; name: unknown }[] = await runner.query(
    `SELECT library_id, device_uuid, name FROM ${LEGACY_PREFIX}library`,
  );
  if (rows.length !== 1) throw legacyDataError(`its \`library\` table has ${rows.length} rows instead of 1`);
  const [row] = rows;
  if (!isLowercaseUuid(row.library_id))
    throw legacyDataError(`library_id ${JSON.stringify(row.library_id)} is not a UUID`);
  if (!isLowercaseUuid(row.device_uuid))
    throw legacyDataError(`device_uuid ${JSON.stringify(row.device_uuid)} is not a UUID`);
  return {
    libraryId: row.library_id,
    deviceId: row.device_uuid,
    name: typeof row.name === 'string' ? row.name : '',
  };
}

/** Computes the Tidemark version (hlc, origin) of every legacy row of one type, a chunk at a time. */
async function stampLegacyRows(runner: QueryRunner, type: LegacyType, rank: number): Promise<void> {
  const legacy = `${LEGACY_PREFIX}${type.table}`;
  if (!(await tableExists(runner, legacy))) return;
  const { version } = type;
  const columns =
    version.kind === 'time'
      ? `${version.column} AS version, ${version.owner} AS owner`
      : version.kind === 'hlc'
        ? 'hlc AS version, NULL AS owner'
        : 'NULL AS version, uuid AS owner';
  let after = '';
  let staged = 0;
  for (;;) {
    const rows: LegacyRow[] = await runner.query(
      `SELECT uuid, ${columns} FROM ${legacy} WHERE uuid > ? ORDER BY uuid LIMIT ${CHUNK_ROWS}`,
      [after],
    );
    if (rows.length === 0) break;
    const params: unknown[] = [];
    for (const row of rows) {
      const where = `${legacy} row ${JSON.stringify(row.uuid)}`;
      if (!isLowercaseUuid(row.uuid))
        throw legacyDataError(`${where}: uuid is not a lowercase hyphenated UUID`);
      let stamp: LegacyStamp;
      let origin: unknown;
      if (version.kind === 'hlc') {
        const legacyHlc = parseLegacyHlc(row.version);
        if (!legacyHlc)
          throw legacyDataError(`${where}: hlc ${JSON.stringify(row.version)} is not "ms:counter:device"`);
        stamp = legacyHlc.stamp;
        origin = legacyHlc.device;
      } else if (version.kind === 'time') {
        const physicalMs = parseLegacyTime(row.version);
        if (physicalMs === undefined) {
          throw legacyDataError(
            `${where}: ${version.column} ${JSON.stringify(row.version)} is not an ISO 8601 time`,
          );
        }
        stamp = { physicalMs, logical: 0 };
        origin = row.owner;
      } else {
        stamp = LEGACY_DEVICE_STAMP;
        origin = row.owner;
      }
      if (!isLowercaseUuid(origin))
        throw legacyDataError(`${where}: owning device ${JSON.stringify(origin)} is not a UUID`);
      params.push(type.name, row.uuid, stampText(stamp), origin, rank);
    }
    await runner.query(
      `INSERT INTO ${STAMPS} (resource_type, uuid, hlc, origin, type_rank) VALUES ${rows.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
      params,
    );
    staged += rows.length;
    after = String(rows[rows.length - 1].uuid);
  }
  // The keyset scan cannot see a NULL or empty uuid; such a row must stop the migration, not vanish.
  const [{ n }]: { n: number }[] = await runner.query(`SELECT count(*) AS n FROM ${legacy}`);
  if (n !== staged) throw legacyDataError(`${legacy} has ${n - staged} rows with an empty or NULL uuid`);
}

/** Copies one type in one statement inside SQLite: the rows never pass through this process. */
async function copyLegacyRows(runner: QueryRunner, type: LegacyType): Promise<void> {
  const legacy = `${LEGACY_PREFIX}${type.table}`;
  if (!(await tableExists(runner, legacy))) return;
  const columns = ['uuid', ...type.columns.map(([column]) => column), 'hlc', 'origin', 'seq'];
  const values = [
    'l.uuid',
    ...type.columns.map(([column, ifNull]) => `coalesce(l.${column}, ${ifNull})`),
    's.hlc',
    's.origin',
    's.seq',
  ];
  await runner.query(
    `INSERT INTO ${type.table} (${columns.join(', ')})
     SELECT ${values.join(', ')} FROM ${legacy} l JOIN ${STAMPS} s ON s.resource_type = ? AND s.uuid = l.uuid`,
    [type.name],
  );
}

/**
 * Every legacy peer that this device had synced from (it has a legacy watermark) gets a cursor at
 * zero for EVERY resource type, with no epoch: the next sync reads each type of that peer from
 * the start. The legacy values are kept only as a record for `tidemark doctor`.
 */
async function restartLegacyPeers(runner: QueryRunner, thisDevice: string, nowMs: number): Promise<void> {
  const peers: { uuid: unknown; last_state_watermark: unknown; last_shared_watermark: unknown }[] =
    await runner.query(
      `SELECT uuid, last_state_watermark, last_shared_watermark FROM ${LEGACY_PREFIX}devices
     WHERE uuid <> ? AND (last_state_watermark IS NOT NULL OR last_shared_watermark IS NOT NULL)
     ORDER BY uuid`,
      [thisDevice],
    );
  for (const peer of peers) {
    if (!isLowercaseUuid(peer.uuid))
      throw legacyDataError(`legacy_devices row ${JSON.stringify(peer.uuid)}: uuid is not a UUID`);
    await runner.query(
      `INSERT INTO resource_watermarks (peer_device_id, resource_type, peer_epoch, last_seq, last_hlc, updated_at_ms)
       VALUES ${LEGACY_TYPES.map(() => "(?, ?, '', 0, NULL, ?)").join(', ')}`,
      LEGACY_TYPES.flatMap((type) => [peer.uuid, type.name, nowMs]),
    );
    await runner.query(
      `INSERT INTO legacy_watermark_migrations (peer_device_id, legacy_state_watermark, legacy_shared_watermark, migrated_at_ms)
       VALUES (?, ?, ?, ?)`,
      [peer.uuid, asText(peer.last_state_watermark), asText(peer.last_shared_watermark), nowMs],
    );
  }
}

/** The legacy value as it was written, for people to read. */
function asText(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}
