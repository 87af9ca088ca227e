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

/**
 * Each resource type's highest seq over its rows and tombstones, in one statement (one
 * snapshot): two index lookups per type. What the commit watch reads to tell which types a
 * commit of another process wrote.
 */
export async function typeSeqHeads(sql: SqlRunner): Promise<Map<ResourceName, number>> {
  const columns = RESOURCE_NAMES.map(
    (name, i) =>
      `max(coalesce((SELECT max(seq) FROM ${RESOURCE_TABLES[name].table}), 0),
           coalesce((SELECT max(seq) FROM tombstones WHERE resource_type = '${name}'), 0)) AS t${i}`,
  );
  const [row] = await sql.query<Record<string, number>>(`SELECT ${columns.join(', ')}`);
  return new Map(RESOURCE_NAMES.map((name, i) => [name, Number(row[`t${i}`])]));
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

/**
 * Every type's head as handshakes report it, computed at most once per library head and shared
 * by the handshakes that arrive while it is computed. The counts are O(rows) (a count(*) over
 * each table): a hub that thousands of devices reconnect to (a node restart, each connection's
 * maximum age) would otherwise count every table once per device. Every write moves the
 * library's head, so equal heads mean equal counts; a handshake never gets heads older than the
 * library head it read on arrival.
 */
export class ResourceHeadCache {
  private cached: { readonly head: number; readonly heads: ResourceHead[] } | undefined;
  private inflight: { readonly head: number; readonly heads: Promise<ResourceHead[]> } | undefined;

  constructor(
    private readonly sql: SqlRunner,
    private readonly readHead: () => Promise<number>,
  ) {}

  async read(): Promise<ResourceHead[]> {
    const head = await this.readHead();
    if (this.cached && this.cached.head >= head) return this.cached.heads;
    if (this.inflight && this.inflight.head >= head) return this.inflight.heads;
    const entry = { head, heads: resourceHeads(this.sql) };
    this.inflight = entry;
    try {
      const heads = await entry.heads;
      if (!this.cached || this.cached.head <= head) this.cached = { head, heads };
      return heads;
    } finally {
      if (this.inflight === entry) this.inflight = undefined;
    }
  }

  /** Rows changed without a new seq (test helpers that damage a library on purpose). */
  forget(): void {
    this.cached = undefined;
    this.inflight = undefined;
  }
}
