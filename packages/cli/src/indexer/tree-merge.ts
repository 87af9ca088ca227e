import { EntryKind } from '@tidemark/proto';
import { compareUtf8 } from './path-order';
import { StoredEntry, StoredEntryCursor } from './stored-entries';
import { WalkedEntry, WalkItem, WalkProblem } from './walk';

/** One step of comparing the walk with what is stored, in byte order of the relative path. */
export type TreeChange =
  /** On disk; `stored` is the entry stored at the same path, if any. */
  | { readonly type: 'entry'; readonly walked: WalkedEntry; readonly stored: StoredEntry | undefined }
  /** Stored, and known to be gone from disk. */
  | { readonly type: 'gone'; readonly stored: StoredEntry }
  | WalkProblem;

/**
 * Paths that could not be read (a directory that could not be listed, an object that could not
 * be stat'ed): their stored entries, and everything stored under them, are kept, since a read
 * error may be passing (a disk waking up, a permission being fixed). Walk and store advance in
 * the same order, so a path is dropped from the set once the store has passed everything under it.
 */
class KeptPaths {
  private paths: string[] = [];

  add(relativePath: string): void {
    this.paths.push(relativePath);
  }

  holds(relativePath: string): boolean {
    if (this.paths.length === 0) return false;
    this.paths = this.paths.filter((kept) => {
      const under = `${kept}/`;
      return relativePath.startsWith(under) || compareUtf8(relativePath, under) < 0;
    });
    return this.paths.some((kept) => relativePath === kept || relativePath.startsWith(`${kept}/`));
  }
}

const parentOf = (relativePath: string) => relativePath.slice(0, Math.max(0, relativePath.lastIndexOf('/')));

/**
 * Merges a walk in byte order with the stored entries in the same order: memory is one page of
 * stored entries plus the walk's open directory listings, whatever the size of the location.
 * Stored entries passed by the walk without a match are gone, unless under a path that could not
 * be read. A special file (FIFO, socket, device) is known not to be what was stored there, so its
 * stored entry goes.
 */
export async function* mergeWithStored(
  walk: AsyncIterable<WalkItem>,
  stored: StoredEntryCursor,
  options: {
    /**
     * The directory ('' for the root) whose own children alone are compared: a child directory
     * stored as a directory is not walked into, and its stored subtree is neither compared nor
     * gone. A new directory is walked whole (it may have been moved in with its contents).
     */
    readonly shallowAt?: string;
  } = {},
): AsyncGenerator<TreeChange> {
  const kept = new KeptPaths();
  // Stored entries before `relativePath` (all of them when undefined) that the walk did not meet.
  async function* passedBy(relativePath: string | undefined): AsyncGenerator<TreeChange> {
    for (let head = stored.peek(); head; head = stored.peek()) {
      if (relativePath !== undefined && compareUtf8(head.relativePath, relativePath) >= 0) return;
      await stored.advance();
      if (!kept.holds(head.relativePath)) yield { type: 'gone', stored: head };
    }
  }
  for await (const item of walk) {
    if (item.type !== 'entry') {
      // Problems are not drained up to: a name that is not UTF-8 is shown lossily, out of order.
      if (item.type === 'unreadable') kept.add(item.relativePath);
      yield item;
      continue;
    }
    yield* passedBy(item.relativePath);
    const head = stored.peek();
    const match = head?.relativePath === item.relativePath ? head : undefined;
    if (match) await stored.advance();
    if (
      options.shallowAt !== undefined &&
      match?.kind === EntryKind.ENTRY_KIND_DIRECTORY &&
      item.directory &&
      parentOf(item.relativePath) === options.shallowAt
    ) {
      item.directory.skip = true;
      await stored.skipSubtree(item.relativePath);
    }
    yield { type: 'entry', walked: item, stored: match };
  }
  yield* passedBy(undefined);
}
