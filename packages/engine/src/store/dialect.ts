import { columnsOf, isIntegerKind, ResourceTable } from './resource-tables';
import { RowPacking, rowPackingOf, SyncColumns } from './packed-rows';

/** Which database engine holds a library. */
export type StoreKind = 'sqlite' | 'postgres';

/**
 * The few SQL fragments in which SQLite and PostgreSQL differ. Everything else the engine writes
 * is SQL both accept: `?` placeholders (the PostgreSQL runner numbers them), `INSERT ... ON
 * CONFLICT`, lowercase snake_case names, integers as 64-bit values that JS numbers round-trip
 * (the PostgreSQL runner parses int8 into numbers and refuses any above 2^53).
 */
export interface StoreDialect {
  readonly kind: StoreKind;
  /**
   * A FROM item over the elements of a bound JSON array of strings (`param`), one row per
   * element with the string in column `value`, named `alias`.
   */
  jsonTexts(param: string, alias: string): string;
  /** How row images are packed into one bound JSON text and read back (`select` over `value`). */
  rowPacking(table: ResourceTable): RowPacking;
  /** The bound JSON text of packed rows, and the FROM item that yields one per row as `value`. */
  packedRowsParam(packed: readonly string[]): string;
  packedRowsFrom(param: string): string;
  /**
   * One value, `rows`: a JSON text of the rows of `from` (a table and its WHERE clause) as
   * arrays of `columns`, in `orderBy` order, `[]` when there are none.
   */
  rowsAsJson(columns: readonly string[], from: string, orderBy: string): string;
  /**
   * A join whose left side drives the loop: SQLite's CROSS JOIN fixes that order (and takes an
   * ON clause); PostgreSQL's planner picks the order itself and takes ON only on JOIN.
   */
  readonly drivingJoin: string;
  /**
   * PostgreSQL refuses an upsert that would touch one key twice; SQLite applies the rows in
   * order. Apply may hold two versions of one uuid in a batch (the newer last): for PostgreSQL
   * only the last goes into the statement, which is what SQLite ends with.
   */
  readonly oneVersionPerUpsert: boolean;
  /** The larger of two integer expressions. */
  greatest(a: string, b: string): string;
  /** Element `index` (as text) of `expr`, a JSON array held as text. */
  jsonArrayItem(expr: string, index: number): string;
  /** A unique, stable column of `entries` that breaks ties of a path keyset (a row id). */
  readonly entryTieBreak: string;
}

export const SQLITE_DIALECT: StoreDialect = {
  kind: 'sqlite',
  jsonTexts: (param, alias) => `json_each(${param}) AS ${alias}`,
  rowPacking: rowPackingOf,
  packedRowsParam: (packed) => JSON.stringify(packed),
  packedRowsFrom: (param) => `json_each(${param})`,
  rowsAsJson: (columns, from, orderBy) =>
    `SELECT json_group_array(json_array(${columns.join(', ')})) AS rows
     FROM (SELECT ${columns.join(', ')} FROM ${from} ORDER BY ${orderBy}) AS page_rows`,
  drivingJoin: 'CROSS JOIN',
  oneVersionPerUpsert: false,
  greatest: (a, b) => `max(${a}, ${b})`,
  jsonArrayItem: (expr, index) => `json_extract(${expr}, '$[${index}]')`,
  entryTieBreak: 'rowid',
};

const jsonPackings = new Map<string, RowPacking>();

/**
 * PostgreSQL reads a row image as a JSON array (`value ->> i`): it parses a bound JSON text once
 * into its binary form, so there is nothing to gain from SQLite's packed strings.
 */
function jsonRowPacking(table: ResourceTable): RowPacking {
  let packing = jsonPackings.get(table.table);
  if (packing) return packing;
  const columns = columnsOf(table);
  const integer = [
    false,
    ...table.fields.map((field) => isIntegerKind(field.kind)),
    false,
    false,
    true,
    true,
    true,
  ];
  packing = {
    columns,
    select: (source) =>
      columns.map((_, index) =>
        integer[index] ? `CAST(${source} ->> ${index} AS bigint)` : `(${source} ->> ${index})`,
      ),
    pack: (values: readonly unknown[], sync: SyncColumns) =>
      JSON.stringify([...values, sync.hlc, sync.origin, sync.seq, sync.originSeq, sync.lineage]),
  };
  jsonPackings.set(table.table, packing);
  return packing;
}

export const POSTGRES_DIALECT: StoreDialect = {
  kind: 'postgres',
  jsonTexts: (param, alias) => `json_array_elements_text(CAST(${param} AS json)) AS ${alias}(value)`,
  rowPacking: jsonRowPacking,
  packedRowsParam: (packed) => `[${packed.join(',')}]`,
  packedRowsFrom: (param) => `json_array_elements(CAST(${param} AS json)) AS packed(value)`,
  rowsAsJson: (columns, from, orderBy) =>
    `SELECT coalesce(json_agg(json_build_array(${columns.join(', ')}) ORDER BY ${orderBy}), '[]')::text AS rows
     FROM (SELECT ${columns.join(', ')} FROM ${from}) AS page_rows`,
  drivingJoin: 'JOIN',
  oneVersionPerUpsert: true,
  greatest: (a, b) => `greatest(${a}, ${b})`,
  jsonArrayItem: (expr, index) => `(CAST(${expr} AS json) ->> ${index})`,
  entryTieBreak: 'uuid',
};
