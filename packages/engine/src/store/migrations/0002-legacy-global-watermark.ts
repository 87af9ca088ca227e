import { randomUUID } from 'node:crypto';
import { MigrationInterface, QueryRunner } from 'typeorm';
import { encodeHlc, HlcStamp, ZERO_HLC } from '../../hlc';
import { RESOURCE_NAMES, ResourceName } from '../../resource-types';
import { isUuid } from '../../validate';
import { FieldKind, RESOURCE_TABLES } from '../resource-tables';
import {
  LEGACY_PREFIX,
  LEGACY_TABLES,
  legacyDataError,
  parseLegacyHlc,
  parseLegacyTime,
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
export const LEGACY_DEVICE_STAMP: HlcStamp = { physicalMs: 1, logical: 0 };

/** Where a legacy row's version comes from. */
type LegacyVersion =
  | { readonly kind: 'none' }
  | { readonly kind: 'time'; readonly column: 'updated_at' | 'indexed_at' }
  | { readonly kind: 'hlc' };

const LEGACY_VERSION: { readonly [N in ResourceName]: LegacyVersion } = {
  device: { kind: 'none' },
  volume: { kind: 'time', column: 'updated_at' },
  location: { kind: 'time', column: 'updated_at' },
  entry: { kind: 'time', column: 'indexed_at' },
  content_identity: { kind: 'hlc' },
  tag: { kind: 'hlc' },
  collection: { kind: 'hlc' },
  tag_assignment: { kind: 'hlc' },
};

const legacyTableOf = (name: ResourceName) => `${LEGACY_PREFIX}${RESOURCE_TABLES[name].table}`;

/** The column naming the owning device of a device-owned type. */
function ownerColumnOf(name: ResourceName): string {
  const table = RESOURCE_TABLES[name];
  if (table.ownerField === 'uuid') return 'uuid';
  const owner = table.fields.find((field) => field.field === table.ownerField);
  if (!owner) throw new Error(`${name} has no owner column`);
  return owner.column;
}

/** Legacy optional references and counts may be NULL; Tidemark stores '' and 0. */
function legacyValue(column: string, kind: FieldKind): string {
  return kind === 'count' || kind === 'entry_kind' ? `coalesce(l.${column}, 0)` : `coalesce(l.${column}, '')`;
}

interface LegacyRow {
  uuid: unknown;
  version: unknown;
  owner: unknown;
}

/**
 * Moves a library of the legacy global-watermark design (renamed to `legacy_*` by 0001) into
 * the Tidemark tables, and restarts every resource type of every legacy peer from zero.
 *
 * The legacy `devices.last_state_watermark` is the seed note's bug: one timestamp stood for every
 * device-owned type of a peer, so a resumed backfill skipped every volume and location older than
 * the last entry batch. Whatever this library holds of a peer may have such holes, so the legacy
 * value is never turned into a cursor. It is kept, with the
 * shared HLC watermark, in `legacy_watermark_migrations` for `tidemark doctor`, and the next sync
 * re-reads everything from each peer; idempotent apply skips the rows this library already holds,
 * so the re-run costs transfer, not writes.
 *
 * Versions are taken from the legacy data itself (row time, legacy HLC), so every member that
 * migrates the same rows gives them the same version, and rows lost to the bug arrive as new.
 *
 * TypeORM runs this in its own transaction: it applies whole or not at all. 0001's renames are
 * committed separately, so after a failure (corrupt legacy data) the next open retries this
 * migration from the same `legacy_*` tables.
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
    for (const [rank, name] of RESOURCE_NAMES.entries()) await stampLegacyRows(runner, name, rank);

    // The order the legacy engine wrote the rows in: by time (and legacy counter), then uuid. The
    // type's rank only breaks a tie of one uuid used in two tables, so the result is total.
    await runner.query(
      `UPDATE ${STAMPS} SET seq = ordered.seq FROM (
         SELECT resource_type, uuid, row_number() OVER (ORDER BY hlc, uuid, type_rank) AS seq FROM ${STAMPS}
       ) AS ordered
       WHERE ${STAMPS}.resource_type = ordered.resource_type AND ${STAMPS}.uuid = ordered.uuid`,
    );
    for (const name of RESOURCE_NAMES) await copyLegacyRows(runner, name);

    const [{ n, floor }]: { n: number; floor: string | null }[] = await runner.query(
      `SELECT count(*) AS n, max(hlc) AS floor FROM ${STAMPS}`,
    );
    // A new epoch: this database's seqs mean nothing any peer has seen, so no cursor may carry over.
    await runner.query(
      `INSERT INTO library_identity (id, library_id, device_id, epoch, name, created_at_ms, last_seq, hlc_floor)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?)`,
      [
        library.libraryId,
        library.deviceId,
        randomUUID(),
        library.name,
        nowMs,
        n,
        floor ?? encodeHlc(ZERO_HLC),
      ],
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
  if (!isUuid(row.library_id))
    throw legacyDataError(`library_id ${JSON.stringify(row.library_id)} is not a UUID`);
  if (!isUuid(row.device_uuid))
    throw legacyDataError(`device_uuid ${JSON.stringify(row.device_uuid)} is not a UUID`);
  return {
    libraryId: row.library_id,
    deviceId: row.device_uuid,
    name: typeof row.name === 'string' ? row.name : '',
  };
}

/** Computes the Tidemark version (hlc, origin) of every legacy row of one type, a chunk at a time. */
async function stampLegacyRows(runner: QueryRunner, name: ResourceName, rank: number): Promise<void> {
  const legacy = legacyTableOf(name);
  if (!(await tableExists(runner, legacy))) return;
  const version = LEGACY_VERSION[name];
  const columns =
    version.kind === 'time'
      ? `${version.column} AS version, ${ownerColumnOf(name)} AS owner`
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
      if (!isUuid(row.uuid)) throw legacyDataError(`${where}: uuid is not a lowercase hyphenated UUID`);
      let stamp: HlcStamp;
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
      if (!isUuid(origin))
        throw legacyDataError(`${where}: owning device ${JSON.stringify(origin)} is not a UUID`);
      params.push(name, row.uuid, encodeHlc(stamp), origin, rank);
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
async function copyLegacyRows(runner: QueryRunner, name: ResourceName): Promise<void> {
  const legacy = legacyTableOf(name);
  if (!(await tableExists(runner, legacy))) return;
  const table = RESOURCE_TABLES[name];
  const columns = ['uuid', ...table.fields.map((field) => field.column), 'hlc', 'origin', 'seq'];
  const values = [
    'l.uuid',
    ...table.fields.map((field) => legacyValue(field.column, field.kind)),
    's.hlc',
    's.origin',
    's.seq',
  ];
  await runner.query(
    `INSERT INTO ${table.table} (${columns.join(', ')})
     SELECT ${values.join(', ')} FROM ${legacy} l JOIN ${STAMPS} s ON s.resource_type = ? AND s.uuid = l.uuid`,
    [name],
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
    if (!isUuid(peer.uuid))
      throw legacyDataError(`legacy_devices row ${JSON.stringify(peer.uuid)}: uuid is not a UUID`);
    await runner.query(
      `INSERT INTO resource_watermarks (peer_device_id, resource_type, peer_epoch, last_seq, last_hlc, updated_at_ms)
       VALUES ${RESOURCE_NAMES.map(() => "(?, ?, '', 0, NULL, ?)").join(', ')}`,
      RESOURCE_NAMES.flatMap((name) => [peer.uuid, name, nowMs]),
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
