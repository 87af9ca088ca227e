import { hasControlCharacter, TidemarkError } from '@tidemark/engine';
import { EntryKind } from '@tidemark/proto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COARSE_TIMESTAMP_TICK_MS, isWholeSecond, tickFor } from './timestamp-ticks';

/** A file, directory or symlink found by the walk. */
export interface WalkedEntry {
  readonly type: 'entry';
  /** "/"-separated, relative to the root, no leading "/". */
  readonly relativePath: string;
  readonly absolutePath: string;
  readonly kind: EntryKind;
  readonly sizeBytes: number;
  readonly modifiedAtMs: number;
  /** The file system (`st_dev`) and file (`st_ino`): what a rename keeps; 0 where the platform has none. */
  readonly device: number;
  readonly inode: number;
  /** Birth time (ms), which tells a file from a later one given the same inode; 0 where unknown. */
  readonly birthMs: number;
  /** The directory this entry is in; undefined at the root. */
  readonly parent: WalkedDirectory | undefined;
  /** Set for a directory: its children name it as `parent`. */
  readonly directory: WalkedDirectory | undefined;
}

/** Something the walk met but cannot index: `unreadable` failed, `special` is a FIFO, socket or device. */
export interface WalkProblem {
  readonly type: 'unreadable' | 'special';
  readonly relativePath: string;
  readonly absolutePath: string;
  readonly reason: string;
  /** The object may be a directory whose contents were not walked. */
  readonly subtree: boolean;
  /**
   * The name is not UTF-8 and `relativePath` shows it lossily: no stored entry is at this object,
   * so nothing is kept for it (a stored path equal to the lossy one is another object's).
   */
  readonly lossy?: boolean;
}

export type WalkItem = WalkedEntry | WalkProblem;

export interface WalkOptions {
  /** Absolute paths left out with everything under them (the library's own directory). */
  readonly exclude?: ReadonlySet<string>;
  /**
   * Walk only this directory (relative to the root, which is still what paths are relative to):
   * the directory itself, naming `parentUuid` as its parent, then what is under it.
   */
  readonly under?: { readonly relativePath: string; readonly parentUuid: string };
  /**
   * False on a file system whose inode numbers are not stable (volume.ts): device, inode and birth
   * time are then reported as 0, as where the platform has none.
   */
  readonly inodes?: boolean;
  /**
   * Read the names of the next directories ahead (see LISTINGS_AHEAD): only on a local file
   * system with fine timestamps (volume.ts, `hasFineTimestamps`). Default: no.
   */
  readonly readAhead?: boolean;
  /**
   * The consumer compares only the children of the walk's top directory (the root, or `under`)
   * and sets `skip` on those it has stored (tree-merge.ts, `shallowAt`): none of them is read
   * ahead, since most will not be listed at all.
   */
  readonly shallow?: boolean;
  /**
   * How far apart two changes of a directory must be for the file system to give them different
   * ctimes (volume.ts, `timestampTickMsOf`): names read ahead are used only if the directory's
   * ctime is still the one seen before they were read, and was at least this long before the read.
   * Default: the coarsest tick (FAT's 2 s).
   */
  readonly timestampTickMs?: number;
}

/** relative_path is a proto string of at most 4096 bytes. */
const MAX_RELATIVE_PATH_BYTES = 4096;
/** lstat calls in flight at once: enough to keep libuv's thread pool busy. */
const STAT_IN_FLIGHT = 64;
/** ignoreBOM: a name that begins with U+FEFF keeps it (the default strips it, naming another path). */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const ASCII = /^[ -~]*$/;

/**
 * Names are read as latin1, which maps each byte to one character, so the exact bytes can be
 * recovered and checked: a name that is not UTF-8 cannot be stored in a proto string, and
 * decoding it lossily would yield a path that does not exist.
 */
function decodeName(raw: string): string | undefined {
  // Most names are ASCII, the same in latin1 and UTF-8: no bytes to copy and decode.
  if (ASCII.test(raw)) return raw;
  try {
    return utf8.decode(Buffer.from(raw, 'latin1'));
  } catch {
    return undefined;
  }
}

export function describeError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  return code ? `${code}: ${message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')}` : message;
}

function specialKind(stats: fs.Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'not a file, directory or symlink';
}

/** A directory the walk met, named to its children so they can point at its entry. */
export interface WalkedDirectory {
  /** Set by the consumer when it resolves the directory's own entry, which comes before its children. */
  uuid?: string;
  /** Set with `uuid` once it can no longer change (the entry was stored at this path, or resolved). */
  final?: boolean;
  /** Set by the consumer before the walk goes on: the directory's contents are not walked. */
  skip?: boolean;
}

interface Examined {
  /** Byte order of the relative path: the name as latin1 (one character per byte), "/" after a directory to descend. */
  readonly key: string;
  readonly item?: WalkItem;
  readonly descend?: {
    readonly relativePath: string;
    readonly directory: WalkedDirectory;
    /** The directory as its parent's listing stat'ed it: before any read ahead of its names. */
    readonly seen: DirectoryVersion;
  };
}

/** What changes when an entry is added to, removed from or renamed in a directory. */
interface DirectoryVersion {
  readonly ino: number;
  readonly ctimeMs: number;
}

const byKey = (a: Examined, b: Examined): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** A directory's names (latin1), or why they could not be read. */
type Listed = { readonly names: string[] } | { readonly error: unknown };

function readNames(absolute: string): Promise<Listed> {
  return fs.promises.readdir(absolute, { encoding: 'latin1' }).then(
    (names) => ({ names }),
    (error: unknown) => ({ error }),
  );
}

/**
 * Directories whose names are read ahead, while the walk examines the one before them: read one
 * at a time, each listing was a round trip to libuv's thread pool (behind SQLite's reads there)
 * that the main thread waited out, 45 % of an unchanged re-index of 1M files. A few listings
 * of names are held per level of the tree, whatever its size.
 */
const LISTINGS_AHEAD = 4;

/** Names read ahead of a directory, and when the read began (wall clock, as ctimes are). */
interface ReadAhead {
  readonly listed: Promise<Listed>;
  readonly startedMs: number;
}

/**
 * @internal Whether a directory whose ctime was `ctimeMs` could change after `readMs` and keep
 * that ctime: the ctime is within a tick of the read (a whole-second one, a coarse file system's:
 * timestamp-ticks.ts).
 */
export function mayChangeUnseen(ctimeMs: number, readMs: number, tickMs: number): boolean {
  return ctimeMs > readMs - tickFor(isWholeSecond(ctimeMs), tickMs);
}

/**
 * Whether names read ahead are still the directory's when the walk gets to it, which can be long
 * after (a first index walks a whole subtree between, waiting on its writes): the directory must
 * be the one seen before the read, with no entry added, removed or renamed since (each moves its
 * ctime), and its ctime must be a tick before the read, or a change just after the read could
 * carry the same ctime. Otherwise the names are read again, as the walk did before it read ahead:
 * an old listing missed a file moved into the directory meanwhile (its entry, gone from where it
 * was, was then deleted) and reported files deleted meanwhile as unreadable.
 */
function stillCurrent(absolute: string, seen: DirectoryVersion, ahead: ReadAhead, tickMs: number): boolean {
  if (mayChangeUnseen(seen.ctimeMs, ahead.startedMs, tickMs)) return false;
  try {
    const now = fs.lstatSync(absolute, { throwIfNoEntry: false });
    return now !== undefined && now.ino === seen.ino && now.ctimeMs === seen.ctimeMs;
  } catch {
    return false;
  }
}

class Walker {
  private readonly stater = new Stater();
  /** Listings read ahead, by absolute path: each is taken once, when the walk gets there. */
  private readonly ahead = new Map<string, ReadAhead>();

  constructor(
    private readonly root: string,
    private readonly exclude: ReadonlySet<string>,
    private readonly inodes: boolean,
    private readonly readsAhead: boolean,
    private readonly shallow: boolean,
    private readonly timestampTickMs: number,
  ) {}

  /**
   * Depth-first, each directory's children in byte order with a directory's contents placed at
   * "name/": so the whole walk comes out in byte order of the relative path, the order the
   * store's (location, path) index reads in. One directory listing per level is held: memory
   * grows with the tree's width and depth, never with its size.
   *
   * Items come in runs, each ending where the walk is about to list a directory's contents: the
   * consumer has seen that directory's entry by then (and may have set `skip`). A run per step
   * rather than an item: a generator step costs more than comparing an unchanged entry.
   */
  async *walk(under: WalkOptions['under']): AsyncGenerator<WalkItem[]> {
    const stack: { readonly examined: readonly Examined[]; at: number }[] = [];
    if (under?.relativePath) {
      // The directory as its parent's listing would show it, then its contents.
      const slash = under.relativePath.lastIndexOf('/');
      const parent = slash < 0 ? '' : under.relativePath.slice(0, slash);
      const raw = Buffer.from(under.relativePath.slice(slash + 1)).toString('latin1');
      const self = { uuid: under.parentUuid, final: true };
      stack.push({ examined: await this.examine(parent, [raw], self), at: 0 });
    } else {
      const listing = await this.listing('', undefined);
      if (!Array.isArray(listing)) {
        throw new TidemarkError('INVALID_ARGUMENT', `cannot read ${this.root}: ${listing.reason}`);
      }
      stack.push({ examined: listing, at: 0 });
    }
    let run: WalkItem[] = [];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.at === top.examined.length) {
        stack.pop();
        continue;
      }
      const { item, descend } = top.examined[top.at++];
      if (item) run.push(item);
      if (!descend) continue;
      if (run.length > 0) {
        yield run;
        run = [];
      }
      // Examined only now: the consumer has seen the directory's entry and may have set `skip`.
      if (descend.directory.skip) {
        this.ahead.delete(this.absoluteOf(descend.relativePath));
        continue;
      }
      // The top directory's children, in a shallow walk: skipped once seen, so none read ahead.
      if (this.readsAhead && !(this.shallow && stack.length === (under?.relativePath ? 2 : 1))) {
        this.readAhead(top.examined, top.at);
      }
      const listing = await this.listing(descend.relativePath, descend.directory, descend.seen);
      if (Array.isArray(listing)) stack.push({ examined: listing, at: 0 });
      else run.push(listing);
    }
    if (run.length > 0) yield run;
  }

  /**
   * Plain concatenation: the root is a real path and names hold no "/", so there is nothing for
   * path.join to normalize, and it costs more than the lstat on a warm cache.
   */
  private absoluteOf(relative: string): string {
    return relative ? `${this.root === '/' ? '' : this.root}/${relative}` : this.root;
  }

  /**
   * Starts reading the names of the next few directories of a listing, from `from` on: a few per
   * level of the walk, so that the deepest level, where most directories are, reads ahead too.
   */
  private readAhead(examined: readonly Examined[], from: number): void {
    let directories = 0;
    for (let index = from; index < examined.length && directories < LISTINGS_AHEAD; index++) {
      const descend = examined[index].descend;
      if (!descend || descend.directory.skip) continue;
      directories++;
      const absolute = this.absoluteOf(descend.relativePath);
      if (!this.ahead.has(absolute)) {
        // The time first: the read may run on the pool before readNames returns.
        const startedMs = Date.now();
        this.ahead.set(absolute, { listed: readNames(absolute), startedMs });
      }
    }
  }

  /** One directory's children, examined and in byte order; a problem when it cannot be listed. */
  private async listing(
    relative: string,
    self: WalkedDirectory | undefined,
    seen?: DirectoryVersion,
  ): Promise<Examined[] | WalkProblem> {
    const absolute = this.absoluteOf(relative);
    const ahead = this.ahead.get(absolute);
    this.ahead.delete(absolute);
    let listed = await (ahead?.listed ?? readNames(absolute));
    // An error read ahead may have passed (a network mount's timeout): read again, as for a change.
    if (
      ahead &&
      ('error' in listed || !(seen && stillCurrent(absolute, seen, ahead, this.timestampTickMs)))
    ) {
      listed = await readNames(absolute);
    }
    if ('error' in listed) {
      return {
        type: 'unreadable',
        relativePath: relative,
        absolutePath: absolute,
        reason: describeError(listed.error),
        subtree: true,
      };
    }
    const examined = await this.examine(relative, listed.names, self);
    return examined.sort(byKey);
  }

  private async examine(
    parent: string,
    rawNames: readonly string[],
    self: WalkedDirectory | undefined,
  ): Promise<Examined[]> {
    const examined: Examined[] = [];
    const candidates: { raw: string; relativePath: string; absolutePath: string }[] = [];
    for (const raw of rawNames) {
      const name = decodeName(raw);
      const shown = name ?? Buffer.from(raw, 'latin1').toString('utf8');
      const relativePath = parent ? `${parent}/${name ?? shown}` : (name ?? shown);
      const absolutePath = this.absoluteOf(relativePath);
      if (name === undefined) {
        const reason = 'name is not valid UTF-8';
        examined.push({
          key: raw,
          item: { type: 'unreadable', relativePath, absolutePath, reason, subtree: true, lossy: true },
        });
      } else if (hasControlCharacter(name)) {
        // Peers refuse paths with control characters (docs/security.md, "Limits").
        const reason = 'name contains a control character, which no peer accepts in a path';
        examined.push({
          key: raw,
          item: { type: 'unreadable', relativePath, absolutePath, reason, subtree: true },
        });
      } else if (Buffer.byteLength(relativePath) > MAX_RELATIVE_PATH_BYTES) {
        const reason = `relative path is longer than ${MAX_RELATIVE_PATH_BYTES} bytes`;
        examined.push({
          key: raw,
          item: { type: 'unreadable', relativePath, absolutePath, reason, subtree: true },
        });
      } else if (!this.exclude.has(absolutePath)) {
        candidates.push({ raw, relativePath, absolutePath });
      }
    }
    const stats = await this.stater.lstatAll(candidates.map((c) => c.absolutePath));
    for (const [index, { raw, relativePath, absolutePath }] of candidates.entries()) {
      const stat = stats[index];
      if (!(stat instanceof fs.Stats)) {
        const reason = describeError(stat);
        examined.push({
          key: raw,
          item: { type: 'unreadable', relativePath, absolutePath, reason, subtree: true },
        });
        continue;
      }
      const kind = stat.isFile()
        ? EntryKind.ENTRY_KIND_FILE
        : stat.isDirectory()
          ? EntryKind.ENTRY_KIND_DIRECTORY
          : stat.isSymbolicLink()
            ? EntryKind.ENTRY_KIND_SYMLINK
            : undefined;
      if (kind === undefined) {
        const reason = specialKind(stat);
        examined.push({
          key: raw,
          item: { type: 'special', relativePath, absolutePath, reason, subtree: false },
        });
        continue;
      }
      const directory: WalkedDirectory | undefined = kind === EntryKind.ENTRY_KIND_DIRECTORY ? {} : undefined;
      examined.push({
        key: raw,
        item: {
          type: 'entry',
          relativePath,
          absolutePath,
          kind,
          // The proto: 0 for directories and symlinks; 0 is also "unknown" for a pre-1970 mtime.
          sizeBytes: kind === EntryKind.ENTRY_KIND_FILE ? stat.size : 0,
          modifiedAtMs: Math.max(0, Math.floor(stat.mtimeMs)),
          device: this.inodes ? stat.dev : 0,
          inode: this.inodes ? stat.ino : 0,
          birthMs: this.inodes ? Math.floor(stat.birthtimeMs) : 0,
          parent: self,
          directory,
        },
      });
      if (directory) {
        const seen = { ino: stat.ino, ctimeMs: stat.ctimeMs };
        examined.push({ key: `${raw}/`, descend: { relativePath, directory, seen } });
      }
    }
    return examined;
  }
}

/** A synchronous lstat slower than this read the disk (or the network), not the kernel's cache. */
const SLOW_SYNC_STAT_MS = 1;
/**
 * Slow stats in one listing before the rest go to the pool. On a busy machine the main thread is
 * preempted now and then, and the stat it was in looks slow (measured: a loaded 2-core machine
 * sent a warm 51k re-index to the pool for 3,000 stats at a time); a cold disk is slow on every
 * stat, so it costs only two more to be sure.
 */
const SLOW_STATS_TO_SWITCH = 3;
/** Listings stat'ed on the thread pool after a slow one, before the main thread tries again. */
const POOL_LISTINGS_AFTER_SLOW = 64;
/** Synchronous stats between two turns of the event loop, so a served node keeps answering. */
const SYNC_STATS_PER_TURN = 2_000;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * lstat of many paths, an error in place of the stats of a path that failed. On a warm cache a
 * synchronous lstat on the main thread costs a few microseconds; handing it to libuv's thread
 * pool costs several times that in queueing and wake-ups, which is most of a re-index of an
 * unchanged tree. On a cold disk or a network share the pool's parallel calls win by far. So
 * stats run synchronously until a listing has SLOW_STATS_TO_SWITCH slow ones, then on the pool
 * (STAT_IN_FLIGHT at once) for the next POOL_LISTINGS_AFTER_SLOW listings, then synchronously
 * again if the cache has warmed.
 */
export class Stater {
  private poolListings = 0;
  private sinceTurn = 0;

  constructor(private readonly slowSyncStatMs = SLOW_SYNC_STAT_MS) {}

  async lstatAll(paths: readonly string[]): Promise<(fs.Stats | Error)[]> {
    if (this.poolListings > 0) {
      this.poolListings--;
      return lstatOnPool(paths, 0, new Array<fs.Stats | Error>(paths.length));
    }
    const results = new Array<fs.Stats | Error>(paths.length);
    let slow = 0;
    for (let index = 0; index < paths.length; index++) {
      const started = performance.now();
      try {
        results[index] = fs.lstatSync(paths[index]);
      } catch (error) {
        results[index] = error as Error;
      }
      if (performance.now() - started > this.slowSyncStatMs && ++slow === SLOW_STATS_TO_SWITCH) {
        this.poolListings = POOL_LISTINGS_AFTER_SLOW;
        return lstatOnPool(paths, index + 1, results);
      }
      if (++this.sinceTurn >= SYNC_STATS_PER_TURN) {
        this.sinceTurn = 0;
        await nextTurn();
      }
    }
    return results;
  }
}

/**
 * lstat of `paths` from `from` on, at most STAT_IN_FLIGHT at once on libuv's thread pool, into
 * `results`. The callback API: a promise per call costs more than the syscall on a warm cache.
 */
function lstatOnPool(
  paths: readonly string[],
  from: number,
  results: (fs.Stats | Error)[],
): Promise<(fs.Stats | Error)[]> {
  if (from >= paths.length) return Promise.resolve(results);
  return new Promise((resolve) => {
    let next = from;
    let done = from;
    const start = (): void => {
      const index = next++;
      fs.lstat(paths[index], (error, stats) => {
        results[index] = error ?? stats;
        if (++done === paths.length) resolve(results);
        else if (next < paths.length) start();
      });
    };
    for (let i = 0; i < Math.min(STAT_IN_FLIGHT, paths.length - from); i++) start();
  });
}

/**
 * Walks the tree under `root` (a real path) without following symlinks, in runs of items (see
 * Walker.walk): a directory's contents are listed only after the run holding its entry is taken.
 */
export function walkTreeRuns(root: string, options: WalkOptions = {}): AsyncGenerator<WalkItem[]> {
  return new Walker(
    root,
    options.exclude ?? new Set(),
    options.inodes ?? true,
    options.readAhead ?? false,
    options.shallow ?? false,
    options.timestampTickMs ?? COARSE_TIMESTAMP_TICK_MS,
  ).walk(options.under);
}

/** walkTreeRuns, an item at a time. */
export async function* walkTree(root: string, options: WalkOptions = {}): AsyncGenerator<WalkItem> {
  for await (const run of walkTreeRuns(root, options)) yield* run;
}

/**
 * Counts what the walk will yield, from directory listings alone (no stat per file), so that the
 * progress bar has a total. Errors are left to the walk to report.
 */
export async function countTree(root: string, options: WalkOptions = {}): Promise<number> {
  const exclude = options.exclude ?? new Set<string>();
  const pending = [root];
  let count = 0;
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    try {
      for await (const dirent of await fs.promises.opendir(dir, { encoding: 'latin1', bufferSize: 256 })) {
        const name = decodeName(dirent.name);
        if (name === undefined) continue;
        const absolute = path.join(dir, name);
        if (exclude.has(absolute)) continue;
        if (dirent.isDirectory()) pending.push(absolute);
        if (dirent.isDirectory() || dirent.isFile() || dirent.isSymbolicLink()) count++;
      }
    } catch {
      continue;
    }
  }
  return count;
}
