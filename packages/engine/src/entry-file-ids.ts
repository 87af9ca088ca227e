import { EntryState, ENTRY_STATE_COLUMNS, EntryStateColumns, entryStateOf } from './reads/entries';
import { ReadScope, runnerOf } from './reads/scope';
import type { WriteTransaction } from './write-path';

/** The file on disk an entry was indexed from, as `lstat` reports it. */
export interface EntryFileId {
  readonly entryUuid: string;
  readonly device: number;
  readonly inode: number;
  /** Birth time in ms, 0 where the file system keeps none. */
  readonly birthMs: number;
}

/** Rows per statement: a bound JSON array, so the count is bounded by size, not parameters. */
const IDS_PER_STATEMENT = 5_000;

/**
 * Records which file each entry was indexed from, in the same transaction as the entries. The
 * table is local (never synced, no version): an inode names a file on this machine only.
 */
export async function recordEntryFileIds(
  tx: WriteTransaction,
  locationUuid: string,
  ids: readonly EntryFileId[],
): Promise<void> {
  if (ids.length === 0) return;
  await tx.flush();
  const item = (index: number) => tx.sql.dialect.jsonArrayItem('ids.value', index);
  const insert = `INSERT INTO entry_file_ids (entry_uuid, location_uuid, device, inode, birth_ms)
     SELECT ${item(0)}, ?, CAST(${item(1)} AS bigint), CAST(${item(2)} AS bigint), CAST(${item(3)} AS bigint)
     FROM ${tx.sql.dialect.jsonTexts('?', 'ids')} WHERE true
     ON CONFLICT (entry_uuid) DO UPDATE SET location_uuid = excluded.location_uuid,
       device = excluded.device, inode = excluded.inode, birth_ms = excluded.birth_ms`;
  for (let start = 0; start < ids.length; start += IDS_PER_STATEMENT) {
    const chunk = ids.slice(start, start + IDS_PER_STATEMENT);
    // One bound JSON array of JSON texts (see row-writer.ts: one parameter, not four per row).
    const packed = chunk.map((id) => JSON.stringify([id.entryUuid, id.device, id.inode, id.birthMs]));
    await tx.sql.query(insert, [locationUuid, JSON.stringify(packed)]);
  }
}

/** Forgets the files of entries that are deleted. */
export async function forgetEntryFileIds(tx: WriteTransaction, entryUuids: readonly string[]): Promise<void> {
  if (entryUuids.length === 0) return;
  await tx.flush();
  for (let start = 0; start < entryUuids.length; start += IDS_PER_STATEMENT) {
    const chunk = entryUuids.slice(start, start + IDS_PER_STATEMENT);
    await tx.sql.query(
      `DELETE FROM entry_file_ids WHERE entry_uuid IN (SELECT value FROM ${tx.sql.dialect.jsonTexts('?', 'gone')})`,
      [JSON.stringify(chunk)],
    );
  }
}

/**
 * The live entries of a location indexed from any of these inodes, with their device and inode
 * (the caller matches the device: inode numbers repeat across file systems). An entry whose row
 * outlived it (deleted by other means) is not returned: the entries table is joined.
 */
export async function readEntriesByInode(
  scope: ReadScope,
  locationUuid: string,
  inodes: readonly number[],
): Promise<EntryState[]> {
  if (inodes.length === 0) return [];
  const sql = await runnerOf(scope);
  const found: EntryState[] = [];
  for (let start = 0; start < inodes.length; start += IDS_PER_STATEMENT) {
    const chunk = inodes.slice(start, start + IDS_PER_STATEMENT);
    const rows = await sql.query<EntryStateColumns>(
      `SELECT ${ENTRY_STATE_COLUMNS} FROM entry_file_ids f JOIN entries e ON e.uuid = f.entry_uuid
       WHERE f.location_uuid = ?
         AND f.inode IN (SELECT CAST(wanted.value AS bigint) FROM ${sql.dialect.jsonTexts('?', 'wanted')})`,
      [locationUuid, JSON.stringify(chunk.map(String))],
    );
    found.push(...rows.map(entryStateOf));
  }
  return found;
}
