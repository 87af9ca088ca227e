import { TidemarkError } from '../errors';

/** Rows per page of a paged read unless the caller asks for another size. */
export const DEFAULT_READ_PAGE_SIZE = 1_000;
const MAX_READ_PAGE_SIZE = 10_000;

export interface PagedReadOptions {
  /** Rows read per statement, 1 to 10,000 (default 1,000): what a read holds in memory at once. */
  readonly pageSize?: number;
}

export function pageSizeOf(options: PagedReadOptions): number {
  const size = options.pageSize ?? DEFAULT_READ_PAGE_SIZE;
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_READ_PAGE_SIZE) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `page size must be an integer from 1 to ${MAX_READ_PAGE_SIZE}, got ${size}`,
    );
  }
  return size;
}

/**
 * Yields every item of a keyset-paged read, one page in memory at a time. `readPage` returns up
 * to `limit` items after `after` (undefined for the first page) in key order, never by OFFSET: a
 * row written between two pages cannot shift the rest, so nothing is returned twice.
 *
 * With `prefetch`, the next page is read while the caller consumes this one (two pages held):
 * for a caller that reads a whole table as fast as it can (an indexer comparing a location), the
 * database's work on one page overlaps the caller's on the previous one.
 */
export async function* keysetPages<T, K>(
  limit: number,
  readPage: (after: K | undefined, limit: number) => Promise<{ items: T[]; last: K | undefined }>,
  options: { readonly prefetch?: boolean } = {},
): AsyncGenerator<T, void, undefined> {
  let page = await readPage(undefined, limit);
  for (;;) {
    // A short page ends the read without asking for the empty one after it.
    const more = page.items.length === limit && page.last !== undefined;
    const next = more && options.prefetch ? readPage(page.last, limit) : undefined;
    // Awaited below, or dropped when the caller stops early: its failure must not go unhandled.
    next?.catch(() => undefined);
    yield* page.items;
    if (!more) return;
    page = await (next ?? readPage(page.last, limit));
  }
}
