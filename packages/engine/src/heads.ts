import { ResourceHead } from '@tidemark/proto';
import { decodeHlc } from './hlc';
import { RESOURCE_NAMES, ResourceName, resourceTypeOf } from './resource-types';
import { SqlRunner } from './store/library-database';
import { RESOURCE_TABLES } from './store/resource-tables';

/** How far one resource type goes in this database: for handshakes, lag and status. */
export async function resourceHead(sql: SqlRunner, name: ResourceName): Promise<ResourceHead> {
  const [row] = await sql.query<{ seq: number | null; n: number; t_seq: number | null; t: number; hlc: string | null }>(
    `SELECT (SELECT max(seq) FROM ${RESOURCE_TABLES[name].table}) AS seq,
            (SELECT count(*) FROM ${RESOURCE_TABLES[name].table}) AS n,
            (SELECT max(seq) FROM tombstones WHERE resource_type = ?1) AS t_seq,
            (SELECT count(*) FROM tombstones WHERE resource_type = ?1) AS t,
            (SELECT max(hlc) FROM (SELECT max(hlc) AS hlc FROM ${RESOURCE_TABLES[name].table}
                                   UNION ALL SELECT max(hlc) FROM tombstones WHERE resource_type = ?1)) AS hlc`,
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
