import { EntryKind } from '@tidemark/proto';
import { compareUtf8 } from './path-order';
import { StoredEntry, StoredEntryCursor } from './stored-entries';
import { WalkedEntry, WalkItem, WalkProblem } from './walk';

/**
 * Where the steps of comparing the walk with what is stored go, in byte order of the relative
 * path. A step returns a promise when the consumer must be waited for (a batch to write).
 */
export interface TreeChangeSink {
  /** On disk; `stored` is the entry stored at the same path, if any. */
  entry(walked: WalkedEntry, stored: StoredEntry | undefined): Promise<void> | undefined;
  /** Stored, and known to be gone from disk. */
  gone(stored: StoredEntry): Promise<void> | undefined;
  /** Stored a second time at a path the walk met (two writers stored it at once): not a move. */
  twin(stored: StoredEntry): Promise<void> | undefined;
  problem(problem: WalkProblem): void;
}

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

/** Whether the walked directory is the stored one (where inodes are known on both sides). */
function sameDirectory(stored: StoredEntry, walked: WalkedEntry): boolean {
  if (stored.inode === 0 || walked.inode === 0) return true;
  return (
    stored.inode === walked.inode &&
    stored.device === walked.device &&
    (stored.birthMs === 0 || walked.birthMs === 0 || stored.birthMs === walked.birthMs)
  );
}

/**
 * Merges a walk in byte order with the stored entries in the same order: memory is one page of
 * stored entries plus the walk's open directory listings, whatever the size of the location.
 * Stored entries passed by the walk without a match are gone, unless under a path that could not
 * be read. A special file (FIFO, socket, device) is known not to be what was stored there, so its
 * stored entry goes. Nothing per entry is awaited unless the store reads a page or the sink
 * asks for it: a re-index of an unchanged tree is this loop for every entry.
 */
export async function mergeWithStored(
  walk: AsyncIterable<readonly WalkItem[]>,
  stored: StoredEntryCursor,
  sink: TreeChangeSink,
  options: {
    /**
     * The directory ('' for the root) whose own children alone are compared: a child directory
     * stored as a directory is not walked into, and its stored subtree is neither compared nor
     * gone. A new directory is walked whole (it may have been moved in with its contents).
     */
    readonly shallowAt?: string;
  } = {},
): Promise<void> {
  const kept = new KeptPaths();
  // Stored entries before `relativePath` (all of them when undefined) that the walk did not meet.
  const passBy = async (relativePath: string | undefined): Promise<void> => {
    for (let head = stored.peek(); head; head = stored.peek()) {
      if (relativePath !== undefined && compareUtf8(head.relativePath, relativePath) >= 0) return;
      await stored.advance();
      if (!kept.holds(head.relativePath)) await sink.gone(head);
    }
  };
  for await (const run of walk) {
    for (const item of run) {
      if (item.type !== 'entry') {
        // Problems are not drained up to: a name that is not UTF-8 is shown lossily, out of order.
        if (item.type === 'unreadable' && !item.lossy) kept.add(item.relativePath);
        sink.problem(item);
        continue;
      }
      let head = stored.peek();
      // Most often the store is at this very path.
      if (
        head &&
        head.relativePath !== item.relativePath &&
        compareUtf8(head.relativePath, item.relativePath) < 0
      ) {
        await passBy(item.relativePath);
        head = stored.peek();
      }
      const match = head?.relativePath === item.relativePath ? head : undefined;
      let twins = false;
      if (match) {
        const reading = stored.advance();
        if (reading) await reading;
        // A second entry of this path (two writers stored it at once): gone, here, and not taken
        // for the first entry of a subtree that is skipped below (which would pass every entry
        // under it as gone).
        for (let twin = stored.peek(); twin?.relativePath === item.relativePath; twin = stored.peek()) {
          const next = stored.advance();
          if (next) await next;
          await sink.twin(twin);
          twins = true;
        }
      }
      if (
        options.shallowAt !== undefined &&
        // A directory that had a twin is walked: what is under it may name the twin as its parent.
        !twins &&
        match?.kind === EntryKind.ENTRY_KIND_DIRECTORY &&
        item.directory &&
        parentOf(item.relativePath) === options.shallowAt &&
        // The directory that was stored, not another put at its path (a directory renamed over an
        // empty one, one removed and made again): that one is walked whole, as a new directory is,
        // since no event need name what came in with it.
        sameDirectory(match, item)
      ) {
        item.directory.skip = true;
        await stored.skipSubtree(item.relativePath);
      }
      const writing = sink.entry(item, match);
      if (writing) await writing;
    }
  }
  await passBy(undefined);
}
