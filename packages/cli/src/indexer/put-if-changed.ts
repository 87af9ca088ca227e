import { FieldsOf, recordFromRow, ResourceName, WriteTransaction } from '@tidemark/engine';

/** Tables of the resource types written by the CLI outside the entry hot path. */
const TABLES = { volume: 'volumes', location: 'locations' } as const;

type Row = { [column: string]: string | number | null };

/**
 * Puts a row only when a field differs from what is stored. Every put takes a new HLC and seq, so
 * an unconditional put would make every re-run of `index` a change that all peers download.
 */
export async function putIfChanged<N extends ResourceName & keyof typeof TABLES>(
  tx: WriteTransaction,
  name: N,
  fields: FieldsOf<N>,
): Promise<boolean> {
  const wanted = fields as unknown as { [field: string]: unknown };
  const [row] = await tx.sql.query<Row>(`SELECT * FROM ${TABLES[name]} WHERE uuid = ?`, [wanted.uuid]);
  if (row) {
    const stored = recordFromRow(name, row) as unknown as { [field: string]: unknown };
    if (Object.keys(wanted).every((field) => stored[field] === wanted[field])) return false;
  }
  await tx.put(name, fields);
  return true;
}
