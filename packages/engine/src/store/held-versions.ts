import { compareVersionAndKind } from '../hlc';
import { ResourceName } from '../resource-types';
import { SqlRunner } from './library-database';
import { RESOURCE_TABLES } from './resource-tables';

const MAX_LOOKUP = 10_000;

/** The version of a uuid held here, as a row or as a tombstone. */
export interface HeldVersion {
  readonly hlc: string;
  readonly origin: string;
  /** Held as a tombstone (a deleted row). */
  readonly tombstone: boolean;
}

/**
 * Current local versions (row or tombstone) of the given uuids. The uuids go in as one JSON
 * array (one bound parameter instead of thousands), and tombstones are looked up only when the
 * type has any (`anyTombstone`): a first backfill has none.
 */
export async function heldVersions(
  sql: SqlRunner,
  name: ResourceName,
  uuids: readonly string[],
  anyTombstone: boolean,
): Promise<Map<string, HeldVersion>> {
  const versions = new Map<string, HeldVersion>();
  const table = RESOURCE_TABLES[name].table;
  // The uuids drive the loop (CROSS JOIN fixes that order) and each probes the primary key.
  // `uuid IN (SELECT ...)` first builds a sorted copy of the list, which is slower whether the
  // uuid is found or not (docs/architecture.md, "Performance"). The uuids are distinct, so the
  // join yields each row at most once.
  const rowQuery = `SELECT r.uuid, r.hlc, r.origin, 0 AS tombstone FROM ${sql.dialect.jsonTexts('?1', 'j')} ${sql.dialect.drivingJoin} ${table} AS r ON r.uuid = j.value`;
  for (let start = 0; start < uuids.length; start += MAX_LOOKUP) {
    const chunk = JSON.stringify(uuids.slice(start, start + MAX_LOOKUP));
    const rows = await sql.query<{ uuid: string; hlc: string; origin: string; tombstone: number }>(
      anyTombstone
        ? `${rowQuery} UNION ALL SELECT t.uuid, t.hlc, t.origin, 1 AS tombstone
           FROM ${sql.dialect.jsonTexts('?1', 'j')} ${sql.dialect.drivingJoin} tombstones AS t ON t.resource_type = ?2 AND t.uuid = j.value`
        : rowQuery,
      anyTombstone ? [chunk, name] : [chunk],
    );
    for (const row of rows) {
      const held = { hlc: row.hlc, origin: row.origin, tombstone: Number(row.tombstone) === 1 };
      const known = versions.get(row.uuid);
      if (
        !known ||
        compareVersionAndKind(
          held.hlc,
          held.origin,
          held.tombstone,
          known.hlc,
          known.origin,
          known.tombstone,
        ) > 0
      )
        versions.set(row.uuid, held);
    }
  }
  return versions;
}
