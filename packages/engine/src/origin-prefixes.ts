import { OriginPrefix } from '@tidemark/proto';
import { ResourceName } from './resource-types';
import { SqlRunner } from './store/library-database';

/**
 * Origin-aware serving (docs/architecture.md, "Origin-aware serving"): lineages, and the origin
 * prefixes this device holds of them.
 *
 * A lineage is one (origin device, origin epoch): the writes one database made between two
 * restores. Rows carry the local id of their lineage; ids are local to this database and never
 * travel. A lineage row is never changed or deleted, so ids read on any connection stay right.
 */
export interface Lineage {
  readonly origin: string;
  readonly epoch: string;
}

/** A claim: this device holds every version of `name` the lineage wrote with origin seq <= `seq`. */
export interface HeldPrefix extends Lineage {
  readonly lineage: number;
  readonly seq: number;
}

/** The highest seq a prefix may carry on the wire: "every version of the lineage". */
export const WHOLE_LINEAGE = Number.MAX_SAFE_INTEGER;

/** At most this many held prefixes per cursor in a request. */
export const MAX_HELD_PREFIXES = 1_000;

const key = (origin: string, epoch: string) => `${origin}/${epoch}`;

/**
 * The ids of lineages, creating the missing ones; call inside the write transaction that stores
 * rows of them. Never cached across transactions: an id handed out in a transaction that rolls
 * back may later name another lineage.
 */
export async function lineageIdsFor(
  sql: SqlRunner,
  lineages: readonly Lineage[],
): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const { origin, epoch } of lineages) {
    const k = key(origin, epoch);
    if (ids.has(k)) continue;
    await sql.query('INSERT INTO origin_lineages (origin, epoch) VALUES (?, ?) ON CONFLICT DO NOTHING', [
      origin,
      epoch,
    ]);
    const [row] = await sql.query<{ id: number }>(
      'SELECT id FROM origin_lineages WHERE origin = ? AND epoch = ?',
      [origin, epoch],
    );
    ids.set(k, row.id);
  }
  return ids;
}

export function lineageKey(origin: string, epoch: string): string {
  return key(origin, epoch);
}

/**
 * Lineages by id, read on the reader connection (committed rows only, which never change): what
 * serving needs to put each row's origin epoch on the wire.
 */
export class LineageCache {
  private readonly byId = new Map<number, Lineage>();
  private readonly byKey = new Map<string, number>();

  constructor(private readonly sql: SqlRunner) {}

  /** The lineage of each id; ids not (yet) committed are left out. */
  async lineagesOf(ids: Iterable<number>): Promise<Map<number, Lineage>> {
    const missing = [...new Set(ids)].filter((id) => id > 0 && !this.byId.has(id));
    if (missing.length > 0) await this.load();
    const found = new Map<number, Lineage>();
    for (const id of ids) {
      const lineage = this.byId.get(id);
      if (lineage) found.set(id, lineage);
    }
    return found;
  }

  /** The local id of a lineage, or undefined when this database has no row of it. */
  async idOf(origin: string, epoch: string): Promise<number | undefined> {
    return (await this.idsOf([{ origin, epoch }])).get(key(origin, epoch));
  }

  /**
   * The local ids of lineages by `lineageKey`; those this database has no row of are left out.
   * Reads the lineage table at most once, however many are unknown: a request may list 1,000
   * held prefixes per cursor of lineages this database never saw.
   */
  async idsOf(lineages: readonly Lineage[]): Promise<Map<string, number>> {
    if (lineages.some(({ origin, epoch }) => !this.byKey.has(key(origin, epoch)))) await this.load();
    const found = new Map<string, number>();
    for (const { origin, epoch } of lineages) {
      const id = this.byKey.get(key(origin, epoch));
      if (id !== undefined) found.set(key(origin, epoch), id);
    }
    return found;
  }

  private async load(): Promise<void> {
    const rows = await this.sql.query<{ id: number; origin: string; epoch: string }>(
      'SELECT id, origin, epoch FROM origin_lineages',
    );
    for (const row of rows) {
      this.byId.set(row.id, { origin: row.origin, epoch: row.epoch });
      this.byKey.set(key(row.origin, row.epoch), row.id);
    }
  }
}

/** The `origin_prefixes` table: per (lineage, type), the highest origin seq of a prefix held. */
export class OriginPrefixStore {
  constructor(private readonly sql: SqlRunner) {}

  /** Every prefix held of one type, with its lineage. */
  async forType(name: ResourceName): Promise<HeldPrefix[]> {
    return this.sql.query<HeldPrefix>(
      `SELECT p.lineage AS lineage, l.origin AS origin, l.epoch AS epoch, p.seq AS seq
       FROM origin_prefixes p JOIN origin_lineages l ON l.id = p.lineage
       WHERE p.resource_type = ? ORDER BY p.lineage`,
      [name],
    );
  }

  /** Raises a prefix (never lowers it); call inside the transaction that made it true. */
  async raise(lineage: number, name: ResourceName, seq: number): Promise<boolean> {
    const [before] = await this.sql.query<{ seq: number }>(
      'SELECT seq FROM origin_prefixes WHERE lineage = ? AND resource_type = ?',
      [lineage, name],
    );
    if (before && before.seq >= seq) return false;
    await this.sql.query(
      `INSERT INTO origin_prefixes (lineage, resource_type, seq) VALUES (?, ?, ?)
       ON CONFLICT (lineage, resource_type)
       DO UPDATE SET seq = ${this.sql.dialect.greatest('origin_prefixes.seq', 'excluded.seq')}`,
      [lineage, name, seq],
    );
    return true;
  }

  /**
   * Forgets the claim on one lineage of one type (its history changed under the same epoch).
   * Returns whether there was one.
   */
  async forget(origin: string, epoch: string, name: ResourceName): Promise<boolean> {
    const [held] = await this.sql.query<{ n: number }>(
      `SELECT count(*) AS n FROM origin_prefixes
       WHERE resource_type = ?1 AND lineage IN (SELECT id FROM origin_lineages WHERE origin = ?2 AND epoch = ?3)`,
      [name, origin, epoch],
    );
    if (held.n === 0) return false;
    await this.sql.query(
      `DELETE FROM origin_prefixes
       WHERE resource_type = ?1 AND lineage IN (SELECT id FROM origin_lineages WHERE origin = ?2 AND epoch = ?3)`,
      [name, origin, epoch],
    );
    return true;
  }

  /** Forgets what is held of some types: the next pull of them from any peer is whole (repair). */
  async clear(names: readonly ResourceName[]): Promise<void> {
    for (const name of names) {
      await this.sql.query('DELETE FROM origin_prefixes WHERE resource_type = ?', [name]);
    }
  }
}

/** Prefixes as they travel. */
export function toWire(prefixes: readonly HeldPrefix[]): OriginPrefix[] {
  return prefixes.map(({ origin, epoch, seq }) => ({ origin, epoch, seq }));
}
