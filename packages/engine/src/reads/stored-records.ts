import { recordFromRow } from '../records';
import { RecordOf, ResourceName } from '../resource-types';
import { SqlRunner } from '../store/library-database';
import { columnsOf, RESOURCE_TABLES, StoredRow } from '../store/resource-tables';

/**
 * Typed records of one resource type matching `where` (SQL after FROM, with `?` parameters).
 * The write path uses it too, which is why it takes a SqlRunner rather than a read scope.
 */
export async function selectRecords<N extends ResourceName>(
  sql: SqlRunner,
  name: N,
  where: string,
  params: readonly unknown[] = [],
): Promise<RecordOf[N][]> {
  const table = RESOURCE_TABLES[name];
  const rows = await sql.query<StoredRow>(
    `SELECT ${columnsOf(table).join(', ')} FROM ${table.table} ${where}`,
    params,
  );
  return rows.map((row) => recordFromRow(name, row) as RecordOf[N]);
}

/** The stored record of one uuid, if this library holds it as a row. */
export async function selectRecord<N extends ResourceName>(
  sql: SqlRunner,
  name: N,
  uuid: string,
): Promise<RecordOf[N] | undefined> {
  const [record] = await selectRecords(sql, name, 'WHERE uuid = ?', [uuid]);
  return record;
}
