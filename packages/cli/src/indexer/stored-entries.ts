import { EntryState, Library, readEntryStatesOfLocation } from '@tidemark/engine';
import { subtreeEnd } from './path-order';

/** What an indexing run compares a walked object with. */
export type StoredEntry = EntryState;

async function collectAll<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** Rows per read: the most the engine allows, so a million entries are 100 statements. */
const STORED_PAGE_SIZE = 10_000;
/** Entries stepped over one by one before a skip re-reads from past the subtree instead. */
const SKIP_BY_STEPPING = 256;

/**
 * The stored entries of one location (or of one directory's subtree) in byte order of their
 * relative path, one at a time: the engine reads them a page at a time on the (location, path)
 * index, so an indexing run holds one page, never the location.
 */
export class StoredEntryCursor {
  private head: StoredEntry | undefined;
  /** Taken after `head`, before the next read one. */
  private pending: StoredEntry | undefined;
  private entries!: AsyncIterator<EntryState>;

  private constructor(
    private readonly library: Library,
    private readonly locationUuid: string,
    /** Paths before this one only (undefined: to the end of the location). */
    private readonly below: string | undefined,
  ) {}

  /** The stored entries of the directory `under` and under it ('' for the whole location). */
  static async open(library: Library, locationUuid: string, under = ''): Promise<StoredEntryCursor> {
    const cursor = new StoredEntryCursor(library, locationUuid, under ? subtreeEnd(under) : undefined);
    if (!under) {
      await cursor.readFrom(undefined);
      return cursor;
    }
    // The directory itself (paths from "d" to "d\u0001" hold "d" alone: paths hold no control
    // characters, and PostgreSQL text holds no NUL), then its subtree from "d/": the siblings
    // between them ("d-x", "d.txt") are not read.
    const [self] = await collectAll(
      readEntryStatesOfLocation(library, locationUuid, { from: under, below: `${under}\u0001` }),
    );
    await cursor.readFrom(`${under}/`);
    if (self) cursor.pushBack(self);
    return cursor;
  }

  /** Puts an entry back in front of the next one (the directory read before its subtree). */
  private pushBack(entry: StoredEntry): void {
    this.pending = this.head;
    this.head = entry;
  }

  /** The next stored entry not yet taken; undefined once all are. */
  peek(): StoredEntry | undefined {
    return this.head;
  }

  async advance(): Promise<void> {
    if (this.pending) {
      this.head = this.pending;
      this.pending = undefined;
      return;
    }
    const next = await this.entries.next();
    this.head = next.done ? undefined : next.value;
  }

  /** Passes every stored entry under the directory `relativePath` without yielding them. */
  async skipSubtree(relativePath: string): Promise<void> {
    const under = `${relativePath}/`;
    for (let stepped = 0; this.head?.relativePath.startsWith(under); stepped++) {
      if (stepped === SKIP_BY_STEPPING) {
        // A big subtree: one read from past its end, not a row per entry through JS.
        await this.entries.return?.();
        await this.readFrom(subtreeEnd(relativePath));
        return;
      }
      await this.advance();
    }
  }

  async close(): Promise<void> {
    await this.entries.return?.();
  }

  private async readFrom(from: string | undefined): Promise<void> {
    this.entries = readEntryStatesOfLocation(this.library, this.locationUuid, {
      pageSize: STORED_PAGE_SIZE,
      from,
      below: this.below,
    })[Symbol.asyncIterator]();
    await this.advance();
  }
}
