import { EntryState, Library, readEntryStatesOfLocation } from '@tidemark/engine';

/** What an indexing run compares a walked object with. */
export type StoredEntry = EntryState;

/** Rows per read: the most the engine allows, so a million entries are 100 statements. */
const STORED_PAGE_SIZE = 10_000;

/**
 * The stored entries of one location in byte order of their relative path, one at a time: the
 * engine reads them a page at a time on the (location, path) index, so an indexing run holds one
 * page, never the location.
 */
export class StoredEntryCursor {
  private head: StoredEntry | undefined;

  private constructor(private readonly entries: AsyncIterator<EntryState>) {}

  static async open(library: Library, locationUuid: string): Promise<StoredEntryCursor> {
    const cursor = new StoredEntryCursor(
      readEntryStatesOfLocation(library, locationUuid, { pageSize: STORED_PAGE_SIZE })[
        Symbol.asyncIterator
      ](),
    );
    await cursor.advance();
    return cursor;
  }

  /** The next stored entry not yet taken; undefined once all are. */
  peek(): StoredEntry | undefined {
    return this.head;
  }

  async advance(): Promise<void> {
    const next = await this.entries.next();
    this.head = next.done ? undefined : next.value;
  }

  async close(): Promise<void> {
    await this.entries.return?.();
  }
}
