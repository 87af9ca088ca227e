import { SqlRunner } from '@tidemark/engine';
import { EntryKind } from '@tidemark/proto';

export interface ExistingEntry {
  readonly uuid: string;
  readonly parentUuid: string;
  readonly kind: EntryKind;
  readonly sizeBytes: number;
  readonly modifiedAtMs: number;
  readonly contentUuid: string;
  /** Set when this run met the path (or could not read it); unseen entries are deleted at the end. */
  seen: boolean;
}

/** The entries of one location, by relative path: the only per-entry state an indexing run keeps. */
export async function loadExistingEntries(
  sql: SqlRunner,
  locationUuid: string,
): Promise<Map<string, ExistingEntry>> {
  const rows = await sql.query<{
    uuid: string;
    parent_uuid: string;
    relative_path: string;
    kind: number;
    size_bytes: number;
    modified_at_ms: number;
    content_uuid: string;
  }>(
    `SELECT uuid, parent_uuid, relative_path, kind, size_bytes, modified_at_ms, content_uuid
     FROM entries WHERE location_uuid = ?`,
    [locationUuid],
  );
  const entries = new Map<string, ExistingEntry>();
  for (const row of rows) {
    entries.set(row.relative_path, {
      uuid: row.uuid,
      parentUuid: row.parent_uuid,
      kind: Number(row.kind) as EntryKind,
      sizeBytes: Number(row.size_bytes),
      modifiedAtMs: Number(row.modified_at_ms),
      contentUuid: row.content_uuid,
      seen: false,
    });
  }
  return entries;
}

/** Marks `relativePath` and everything under it as seen: an unreadable directory keeps its rows. */
export function markSubtreeSeen(entries: Map<string, ExistingEntry>, relativePath: string): void {
  const own = entries.get(relativePath);
  if (own) own.seen = true;
  const prefix = `${relativePath}/`;
  for (const [key, entry] of entries) if (key.startsWith(prefix)) entry.seen = true;
}
