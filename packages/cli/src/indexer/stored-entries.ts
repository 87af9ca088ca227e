import {
  EntryState,
  Library,
  readEntryStatePagesOfLocation,
  readEntryStatesOfLocation,
} from '@tidemark/engine';
import { subtreeEnd } from './path-order';

/** What an indexing run compares a walked object with. */
export type StoredEntry = EntryState;

async function collectAll<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/**
 * Rows per read. A page's entries live until the walk has passed them, long enough to be
 * promoted to V8's old space, so big pages cost RSS: measured on a 51k re-index, 10,000-row
 * pages peaked at 159 MB and 1,000-row pages at 121 MB, at the same CPU.
 */
const STORED_PAGE_SIZE = 1_000;
/** Entries stepped over one by one before a skip re-reads from past the subtree instead. */
const SKIP_BY_STEPPING = 256;

/**
 * The stored entries of one location (or of one directory's subtree) in byte order of their
 * relative path, one at a time: the engine reads them a page at a time on the (location, path)
 * index, so an indexing run holds one page (and the next, read ahead), never the location.
 * Within a page, `peek` and `advance` are plain calls: a re-index of an unchanged tree passes
 * every stored entry, and a promise per entry cost more than the comparison.
 */
export class StoredEntryCursor {
  private page: readonly StoredEntry[] = [];
  private at = 0;
  /** Taken before the page's next one (the directory read before its subtree). */
  private pending: StoredEntry | undefined;
  private pages!: AsyncIterator<StoredEntry[]>;

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
    cursor.pending = self;
    return cursor;
  }

  /** The next stored entry not yet taken; undefined once all are. */
  peek(): StoredEntry | undefined {
    return this.pending ?? this.page[this.at];
  }

  /**
   * Takes the entry `peek` returned. Returns a promise only when the next page must be read
   * first (to be awaited before the next `peek`); undefined when the next entry is at hand.
   */
  advance(): Promise<void> | undefined {
    if (this.pending) {
      this.pending = undefined;
      return undefined;
    }
    if (++this.at < this.page.length) return undefined;
    return this.nextPage();
  }

  /** Passes every stored entry under the directory `relativePath` without yielding them. */
  async skipSubtree(relativePath: string): Promise<void> {
    const under = `${relativePath}/`;
    for (let stepped = 0; this.peek()?.relativePath.startsWith(under); stepped++) {
      if (stepped === SKIP_BY_STEPPING) {
        // A big subtree: one read from past its end, not a row per entry through JS.
        await this.pages.return?.();
        await this.readFrom(subtreeEnd(relativePath));
        return;
      }
      await this.advance();
    }
  }

  async close(): Promise<void> {
    await this.pages.return?.();
  }

  private async nextPage(): Promise<void> {
    const next = await this.pages.next();
    this.page = next.done ? [] : next.value;
    this.at = 0;
  }

  private async readFrom(from: string | undefined): Promise<void> {
    this.pages = readEntryStatePagesOfLocation(this.library, this.locationUuid, {
      pageSize: STORED_PAGE_SIZE,
      from,
      below: this.below,
    })[Symbol.asyncIterator]();
    await this.nextPage();
  }
}
