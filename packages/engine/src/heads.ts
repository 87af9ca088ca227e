import { ResourceHead } from '@tidemark/proto';
import { decodeHlc } from './hlc';
import { RESOURCE_NAMES, ResourceName, resourceTypeOf } from './resource-types';
import { SqlRunner } from './store/library-database';
import { ownerColumnOf, RESOURCE_TABLES } from './store/resource-tables';

/** How far one resource type goes in this database: for handshakes, lag and status. */
export async function resourceHead(sql: SqlRunner, name: ResourceName): Promise<ResourceHead> {
  const [row] = await sql.query<{
    seq: number | null;
    n: number;
    t_seq: number | null;
    t: number;
    hlc: string | null;
  }>(
    `SELECT (SELECT max(seq) FROM ${RESOURCE_TABLES[name].table}) AS seq,
            (SELECT count(*) FROM ${RESOURCE_TABLES[name].table}) AS n,
            (SELECT max(seq) FROM tombstones WHERE resource_type = ?1) AS t_seq,
            (SELECT count(*) FROM tombstones WHERE resource_type = ?1) AS t,
            (SELECT max(hlc) FROM (SELECT max(hlc) AS hlc FROM ${RESOURCE_TABLES[name].table}
                                   UNION ALL SELECT max(hlc) FROM tombstones WHERE resource_type = ?1) AS both_kinds) AS hlc`,
    [name],
  );
  return {
    resourceType: resourceTypeOf(name),
    seq: Math.max(row.seq ?? 0, row.t_seq ?? 0),
    rowCount: row.n,
    tombstoneCount: row.t,
    maxHlc: row.hlc ? decodeHlc(row.hlc) : undefined,
  };
}

export async function resourceHeads(sql: SqlRunner): Promise<ResourceHead[]> {
  const heads: ResourceHead[] = [];
  for (const name of RESOURCE_NAMES) heads.push(await resourceHead(sql, name));
  return heads;
}

/** Rows per resource type and owning device ('shared' for shared types), for status screens. */
export async function rowCountsByOwner(
  sql: SqlRunner,
): Promise<{ resourceType: ResourceName; owner: string; rows: number }[]> {
  const counts: { resourceType: ResourceName; owner: string; rows: number }[] = [];
  for (const name of RESOURCE_NAMES) {
    const table = RESOURCE_TABLES[name];
    const owner = ownerColumnOf(name);
    const rows = await sql.query<{ owner: string | null; n: number }>(
      owner
        ? `SELECT ${owner} AS owner, count(*) AS n FROM ${table.table} GROUP BY ${owner} ORDER BY ${owner}`
        : `SELECT NULL AS owner, count(*) AS n FROM ${table.table}`,
    );
    for (const row of rows) counts.push({ resourceType: name, owner: row.owner ?? 'shared', rows: row.n });
  }
  return counts;
}
