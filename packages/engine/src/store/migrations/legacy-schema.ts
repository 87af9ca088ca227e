import { QueryRunner } from 'typeorm';
import { TidemarkError } from '../../errors';

/*
 * The legacy ("v0", pre-Tidemark) library schema: the global-watermark design, whose one cursor
 * per peer for every device-owned type made a resumed backfill skip rows (see 0002).
 *
 *   library(library_id TEXT, device_uuid TEXT, name TEXT)   -- one row: the library, and this device
 *   devices(uuid TEXT PRIMARY KEY, name TEXT, os TEXT,
 *           last_state_watermark TEXT,   -- ISO time: ONE cursor for every device-owned type of that peer
 *           last_shared_watermark TEXT)  -- legacy HLC "ms:counter:device": ONE cursor for every shared type
 *
 *   Device-owned tables: Tidemark's data columns plus the time of the last write, ISO 8601.
 *   volumes(uuid TEXT PRIMARY KEY, device_uuid, name, mount_point, filesystem, capacity_bytes, updated_at)
 *   locations(uuid TEXT PRIMARY KEY, device_uuid, volume_uuid NULL, path, name, updated_at)
 *   entries(uuid TEXT PRIMARY KEY, device_uuid, location_uuid, parent_uuid NULL, relative_path, kind,
 *           size_bytes, modified_at_ms, content_uuid NULL, indexed_at)
 *
 *   Shared tables: Tidemark's data columns plus `hlc TEXT`, the legacy HLC "ms:counter:device".
 *   content_identities(uuid TEXT PRIMARY KEY, content_hash, size_bytes, mime_type, hlc)
 *   tags(uuid TEXT PRIMARY KEY, name, color, hlc)
 *   collections(uuid TEXT PRIMARY KEY, name, description, hlc)
 *   tag_assignments(uuid TEXT PRIMARY KEY, tag_uuid, content_uuid, hlc)
 *
 * There is no seq, no tombstone table, no per-resource watermark and no TypeORM migrations table.
 * Its tables may carry foreign keys (devices <- volumes <- locations <- entries, tags <-
 * tag_assignments) and indexes of their own.
 *
 * Migration 0001 recognises the shape by `devices.last_state_watermark` and renames these tables
 * to `legacy_<name>`; migration 0002 moves their rows into the Tidemark tables and drops them.
 *
 * Like the migrations, this file is frozen: it imports nothing of the engine that may change (the
 * uuid check and the stamp format below are copies of what they were when 0002 was written).
 */

/** The legacy tables, parents before children (drop them in reverse). */
export const LEGACY_TABLES = [
  'library',
  'devices',
  'volumes',
  'locations',
  'content_identities',
  'entries',
  'tags',
  'collections',
  'tag_assignments',
] as const;

export type LegacyTable = (typeof LEGACY_TABLES)[number];

export const LEGACY_PREFIX = 'legacy_';

export async function tableExists(runner: QueryRunner, table: string): Promise<boolean> {
  const rows: unknown[] = await runner.query(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
    [table],
  );
  return rows.length > 0;
}

export async function columnsOfTable(runner: QueryRunner, table: string): Promise<string[]> {
  const rows: { name: string }[] = await runner.query(`SELECT name FROM pragma_table_info(?)`, [table]);
  return rows.map((row) => row.name);
}

/** A database written by the global-watermark design: its `devices` has the one global cursor. */
export async function isLegacyLibrary(runner: QueryRunner): Promise<boolean> {
  return (await columnsOfTable(runner, 'devices')).includes('last_state_watermark');
}

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(?:(Z)|([+-])(\d{2}):?(\d{2}))?$/i;

/**
 * Milliseconds since the epoch of a legacy timestamp, or undefined when it is not one. Legacy
 * writers stored RFC 3339 ("2025-10-20T14:05:00.250+00:00", "...Z") and SQLite's own
 * "2025-10-20 14:05:00"; a time without an offset is UTC, as SQLite's datetime() writes it. This
 * does not use Date.parse, which reads a zone-less date-time as local time.
 */
export function parseLegacyTime(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const match = ISO_TIME.exec(text.trim());
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, fraction, zulu, sign, offsetHours, offsetMinutes] = match;
  const ms = Number((fraction ?? '').padEnd(3, '0').slice(0, 3));
  let utc = Date.UTC(+year, +month - 1, +day, +hour, +minute, +second, ms);
  if (!zulu && sign) utc -= (sign === '-' ? -1 : 1) * (+offsetHours * 60 + +offsetMinutes) * 60_000;
  // Date.UTC rolls "2025-02-30" over into March; a legacy value like that is corrupt, not a date.
  const check = new Date(Date.UTC(+year, +month - 1, +day));
  if (
    check.getUTCMonth() !== +month - 1 ||
    check.getUTCDate() !== +day ||
    +hour > 23 ||
    +minute > 59 ||
    +second > 59
  ) {
    return undefined;
  }
  return utc > 0 && utc < 2 ** 48 ? utc : undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A lowercase hyphenated UUID (8-4-4-4-12 hex digits), as Tidemark stores ids. */
export function isLowercaseUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** A Tidemark HLC stamp: 48-bit physical milliseconds and a 16-bit counter. */
export interface LegacyStamp {
  readonly physicalMs: number;
  readonly logical: number;
}

/**
 * The stored text of a stamp, 12 + 4 zero-padded lowercase hex digits (the format `encodeHlc`
 * writes; its tests pin it to this). Only called with stamps the parsers below let through.
 */
export function stampText(stamp: LegacyStamp): string {
  return stamp.physicalMs.toString(16).padStart(12, '0') + stamp.logical.toString(16).padStart(4, '0');
}

export interface LegacyHlc {
  readonly stamp: LegacyStamp;
  readonly device: string;
}

/** A legacy HLC "ms:counter:device" (decimal ms and counter, lowercase hyphenated device uuid). */
export function parseLegacyHlc(text: unknown): LegacyHlc | undefined {
  if (typeof text !== 'string') return undefined;
  const match = /^(\d{1,15}):(\d{1,5}):(.+)$/.exec(text.trim());
  if (!match) return undefined;
  const physicalMs = Number(match[1]);
  const logical = Number(match[2]);
  if (physicalMs <= 0 || physicalMs >= 2 ** 48 || logical > 0xffff || !isLowercaseUuid(match[3])) {
    return undefined;
  }
  return { stamp: { physicalMs, logical }, device: match[3] };
}

export function legacyDataError(message: string): TidemarkError {
  return new TidemarkError(
    'STORAGE',
    `cannot migrate the legacy library: ${message}. Fix or remove that row in the legacy_ tables and open the library again`,
  );
}
