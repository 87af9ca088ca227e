import { ResourceName } from '../resource-types';
import { SqlRunner } from './library-database';
import { SyncColumns } from './packed-rows';
import { RESOURCE_TABLES } from './resource-tables';

/** SQLite 3.32+ allows 32766 bound parameters per statement; stay well below it. */
const MAX_PARAMS = 30_000;

/** One versioned row image: data values in table column order, then its sync fields. */
export interface VersionedRow extends SyncColumns {
  readonly values: readonly unknown[];
}

export interface VersionedTombstone extends SyncColumns {
  readonly uuid: string;
}

/** The last of the items with each key, in their order (the newest version of each uuid). */
function lastVersionOfEach<T>(items: readonly T[], keyOf: (item: T) => unknown): readonly T[] {
  const last = new Map<unknown, number>();
  items.forEach((item, index) => last.set(keyOf(item), index));
  return last.size === items.length ? items : items.filter((item, index) => last.get(keyOf(item)) === index);
}

/**
 * Packed characters per upsert statement: ordinary rows (~200 bytes) fill a 10,000-row group in
 * one statement; rows at their field bounds take several.
 */
const MAX_STATEMENT_JSON_CHARS = 2 * 1024 * 1024;

/**
 * Multi-row statements for the hot paths (bulk local writes and apply): one prepared statement
 * per chunk instead of one per row. A writer lives for one transaction (its connection holds the
 * write lock).
 */
export class RowWriter {
  /**
   * Whether each type has tombstones, as found in this transaction: only a RowWriter writes
   * tombstones, and no other writer runs while this transaction holds the lock, so the answer
   * changes only through `writeTombstones` here. A first index asked it twice per 2,000 rows, a
   * round trip each.
   */
  private readonly tombstonesHeld = new Map<ResourceName, boolean>();

  constructor(private readonly sql: SqlRunner) {}

  /**
   * Inserts or replaces rows (the newest version wins upstream); clears their tombstones. The
   * rows go in as ONE bound JSON array of packed rows per statement (see packed-rows.ts),
   * unpacked by SQLite's json_each and `substr`: each separately bound parameter costs the Node
   * thread an N-API call (docs/architecture.md, "Performance"), while the JSON text is built
   * natively by V8 and unpacked on SQLite's worker thread, off the event loop.
   */
  async upsertRows(
    name: ResourceName,
    rows: readonly VersionedRow[],
    known: { readonly anyTombstone?: boolean } = {},
  ): Promise<void> {
    if (rows.length === 0) return;
    if (this.sql.dialect.oneVersionPerUpsert) rows = lastVersionOfEach(rows, (row) => row.values[0]);
    const table = RESOURCE_TABLES[name];
    const packing = this.sql.dialect.rowPacking(table);
    const { columns } = packing;
    const updates = columns.slice(1).map((column) => `${column} = excluded.${column}`);
    // `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT, not to a join.
    const insert = `INSERT INTO ${table.table} (${columns.join(', ')})
       SELECT ${packing.select('value').join(', ')} FROM ${this.sql.dialect.packedRowsFrom('?')} WHERE true
       ON CONFLICT (uuid) DO UPDATE SET ${updates.join(', ')}`;
    let packed: string[] = [];
    let chars = 0;
    for (const row of rows) {
      const one = packing.pack(row.values, row);
      packed.push(one);
      chars += one.length;
      // Rows at their field bounds (4 KiB paths) would make one statement's JSON tens of MB,
      // copied to UTF-8 and parsed again by SQLite: a few MB per statement keeps that bounded.
      if (chars >= MAX_STATEMENT_JSON_CHARS) {
        await this.sql.query(insert, [this.sql.dialect.packedRowsParam(packed)]);
        packed = [];
        chars = 0;
      }
    }
    if (packed.length) await this.sql.query(insert, [this.sql.dialect.packedRowsParam(packed)]);
    // A backfill brings rows that were never deleted here: one index probe (or the caller's,
    // made earlier in the same transaction) skips the delete.
    if (!(known.anyTombstone ?? (await this.hasTombstones(name)))) return;
    await this.sql.query(
      `DELETE FROM tombstones WHERE resource_type = ?
       AND uuid IN (SELECT value FROM ${this.sql.dialect.jsonTexts('?', 'deleted')})`,
      [name, JSON.stringify(rows.map((row) => row.values[0]))],
    );
  }

  /** Whether the type has any tombstone: one probe of the (type, uuid) primary key. */
  async hasTombstones(name: ResourceName): Promise<boolean> {
    const known = this.tombstonesHeld.get(name);
    if (known !== undefined) return known;
    const [any] = await this.sql.query('SELECT 1 FROM tombstones WHERE resource_type = ? LIMIT 1', [name]);
    this.tombstonesHeld.set(name, any !== undefined);
    return any !== undefined;
  }

  /** Deletes rows and records (or replaces) their tombstones. */
  async writeTombstones(name: ResourceName, tombstones: readonly VersionedTombstone[]): Promise<void> {
    if (tombstones.length === 0) return;
    this.tombstonesHeld.set(name, true);
    if (this.sql.dialect.oneVersionPerUpsert) tombstones = lastVersionOfEach(tombstones, (t) => t.uuid);
    const rowsPerChunk = Math.floor(MAX_PARAMS / 7);
    for (let start = 0; start < tombstones.length; start += rowsPerChunk) {
      const chunk = tombstones.slice(start, start + rowsPerChunk);
      await this.deleteWhereUuidIn(
        RESOURCE_TABLES[name].table,
        chunk.map((t) => t.uuid),
      );
      const params: unknown[] = [];
      for (const t of chunk) params.push(name, t.uuid, t.hlc, t.origin, t.seq, t.originSeq, t.lineage);
      await this.sql.query(
        `INSERT INTO tombstones (resource_type, uuid, hlc, origin, seq, origin_seq, origin_lineage)
         VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}
         ON CONFLICT (resource_type, uuid) DO UPDATE SET hlc = excluded.hlc, origin = excluded.origin,
           seq = excluded.seq, origin_seq = excluded.origin_seq, origin_lineage = excluded.origin_lineage`,
        params,
      );
    }
  }

  private async deleteWhereUuidIn(table: string, uuids: readonly string[]) {
    for (let start = 0; start < uuids.length; start += MAX_PARAMS) {
      const chunk = uuids.slice(start, start + MAX_PARAMS);
      const marks = chunk.map(() => '?').join(', ');
      await this.sql.query(`DELETE FROM ${table} WHERE uuid IN (${marks})`, chunk);
    }
  }
}
