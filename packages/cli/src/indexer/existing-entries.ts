import { Library, readEntriesOfLocation } from '@tidemark/engine';
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
  library: Library,
  locationUuid: string,
): Promise<Map<string, ExistingEntry>> {
  const entries = new Map<string, ExistingEntry>();
  for await (const entry of readEntriesOfLocation(library, locationUuid)) {
    entries.set(entry.relativePath, {
      uuid: entry.uuid,
      parentUuid: entry.parentUuid,
      kind: entry.kind,
      sizeBytes: entry.sizeBytes,
      modifiedAtMs: entry.modifiedAtMs,
      contentUuid: entry.contentUuid,
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
