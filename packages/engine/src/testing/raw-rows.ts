import { Library } from '../library';
import { TidemarkError } from '../errors';
import { FieldsOf, ResourceName } from '../resource-types';
import { RESOURCE_TABLES } from '../store/resource-tables';

/*
 * Raw changes to a library's rows for tests that need a library in a state the engine never
 * produces: what a lost write, a bug of an older version or a restored backup leaves behind.
 * They bypass the write path on purpose: no HLC, no seq, no tombstone, nothing a peer sees.
 */

/** Deletes rows without a tombstone or a new seq, as if they had never arrived. */
export async function forgetRows(
  library: Library,
  name: ResourceName,
  uuids: readonly string[],
): Promise<void> {
  if (uuids.length === 0) return;
  await library.db.writeTransaction((sql) =>
    sql.query(
      `DELETE FROM ${RESOURCE_TABLES[name].table}
       WHERE uuid IN (SELECT value FROM ${sql.dialect.jsonTexts('?', 'forgotten')})`,
      [JSON.stringify(uuids)],
    ),
  );
  library.heads.forget();
}

/**
 * Overwrites fields of a stored row in place (its uuid included), keeping its HLC, origin and
 * seq, as a library written by an earlier version holds them.
 */
export async function rewriteRowInPlace<N extends ResourceName>(
  library: Library,
  name: N,
  uuid: string,
  changes: Partial<FieldsOf<N>>,
): Promise<void> {
  const table = RESOURCE_TABLES[name];
  const given = changes as { readonly [field: string]: unknown };
  const columnOf = new Map([['uuid', 'uuid'], ...table.fields.map((f) => [f.field, f.column] as const)]);
  const assignments = Object.keys(given).map((field) => {
    const column = columnOf.get(field);
    if (!column) throw new TidemarkError('INVALID_ARGUMENT', `${name} has no field ${field}`);
    return [column, given[field]] as const;
  });
  if (assignments.length === 0) return;
  await library.db.writeTransaction((sql) =>
    sql.query(
      `UPDATE ${table.table} SET ${assignments.map(([column]) => `${column} = ?`).join(', ')} WHERE uuid = ?`,
      [...assignments.map(([, value]) => value), uuid],
    ),
  );
}
