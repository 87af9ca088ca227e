import * as fs from 'node:fs';
import * as path from 'node:path';
import { Observable, share, Subject } from 'rxjs';
import { TidemarkError } from './errors';
import { WatchWhileSubscribed } from './watch-while-subscribed';

/** Default of `OpenLibraryOptions.fallbackPollMs`. */
export const DEFAULT_FALLBACK_POLL_MS = 2_000;

/**
 * After each wake-up by a notification, the head is read again this long after the previous
 * read, unless another notification comes first. The kernel reports SQLite's write of a commit
 * frame to the WAL before SQLite publishes the commit in the shared-memory index: a reader woken
 * at once, while the writer is descheduled in between, still sees the old head, and no further
 * notification follows. These re-reads find such a commit in milliseconds instead of at the
 * next fallback poll.
 */
export const RECHECK_AFTER_MS: readonly number[] = [2, 20, 200];

/** setInterval's limit (a larger delay fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface CommitWatchOptions {
  /** The library's database file; its WAL (`<file>-wal`) is what other processes' commits write. */
  readonly file: string;
  /** Reads the highest committed seq (on a connection that sees other processes' commits). */
  readonly readHead: () => Promise<number>;
  /**
   * Reads each resource type's highest seq (rows and tombstones) in one snapshot, for
   * `headsOf$`: a WAL notification does not say what a commit wrote.
   */
  readonly readTypeHeads: () => Promise<ReadonlyMap<string, number>>;
  /** The slow poll that recovers a commit no notification reported. */
  readonly fallbackPollMs: number;
  /** False: the fallback poll alone (a file system whose notifications cannot be trusted). */
  readonly notifications: boolean;
  /** Told when the file system will not watch the library's directory; the fallback poll goes on. */
  readonly onWatchError?: (error: TidemarkError) => void;
}

/** Checks the follow options of a library before anything is opened. */
export function checkFallbackPollMs(value: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_TIMER_MS) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `fallback poll interval must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${value}`,
    );
  }
  return value;
}

/**
 * Reads of the head after wake-ups, coalesced: one read at a time, and wake-ups that arrive
 * during a read cause exactly one more read after it, so a burst of commits costs one or two
 * reads, not one per commit. After a notification, re-reads follow at `RECHECK_AFTER_MS`.
 */
export class HeadReads {
  private reading = false;
  private again = false;
  private stopped = false;
  private recheck: NodeJS.Timeout | undefined;

  constructor(
    private readonly readHead: () => Promise<number>,
    /** Awaited before the next read, so work it starts is coalesced with the reads. */
    private readonly found: (head: number) => void | Promise<void>,
  ) {}

  /** Reads the head now, or once more after the read under way. */
  async look(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.again = false;
        // A read that fails (the library closing under it) is left to the next wake-up.
        const head = await this.readHead().catch(() => undefined);
        if (this.stopped) return;
        if (head !== undefined) await this.found(head);
      } while (this.again && !this.stopped);
    } finally {
      this.reading = false;
    }
  }

  /** A file-system notification: read now, and again at each recheck delay. */
  notified(): void {
    if (this.stopped) return;
    void this.look();
    // Restarted by every notification, so a steady stream of commits costs no extra reads.
    this.recheckFrom(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.recheck) clearTimeout(this.recheck);
  }

  private recheckFrom(step: number): void {
    if (this.recheck) clearTimeout(this.recheck);
    this.recheck = undefined;
    if (step >= RECHECK_AFTER_MS.length || this.stopped) return;
    const timer = setTimeout(() => {
      void this.look().then(() => {
        // A notification in the meantime started its own rechecks.
        if (this.recheck === timer) this.recheckFrom(step + 1);
      });
    }, RECHECK_AFTER_MS[step]);
    this.recheck = timer;
  }
}

/**
 * Wakes followers on commits made by any process writing the library's file: a file-system
 * notification on the WAL wakes a read of the head at once, and a slow poll recovers whatever
 * no notification reported. `heads$` emits each head higher than any it emitted or was told of
 * (`saw`); `headsOf$(type)` emits only when that type's own highest seq moved beyond what this
 * process knows of it, so a commit of entries does not wake the tag streams. Watches only while
 * subscribed; an idle library does nothing but the fallback poll.
 */
export class CommitWatch {
  /** Heads of commits this process learned of by notification or poll. Hot while subscribed. */
  readonly heads$: Observable<number>;
  private readonly all = new Subject<number>();
  private readonly byType = new Map<string, Subject<number>>();
  private readonly lifetime = new WatchWhileSubscribed(() => this.watch());
  private known = 0;
  /**
   * Per type, the highest seq this process knows is visible: read by the watch, or the head of
   * a commit of this process that wrote the type (its followers were woken by that commit, and
   * read everything committed before it). Kept apart from `known`: a commit of this process
   * moves the library's head past another process's commit of another type, which must still
   * wake that type's followers.
   */
  private readonly typeKnown = new Map<string, number>();
  /** The library head at the last read of the type heads; undefined: none since the watch started. */
  private typeHeadsAt: number | undefined;

  constructor(private readonly options: CommitWatchOptions) {
    this.heads$ = this.lifetime.using(this.all).pipe(share());
  }

  /** Heads at which a commit that wrote `type` became visible, as far as this process knows. */
  headsOf$(type: string): Observable<number> {
    let subject = this.byType.get(type);
    if (!subject) this.byType.set(type, (subject = new Subject<number>()));
    return this.lifetime.using(subject);
  }

  /** A commit made through this process reached `head`, writing `types`: no need to report it again. */
  saw(head: number, types: Iterable<string> = []): void {
    if (head > this.known) this.known = head;
    for (const type of types) if (head > (this.typeKnown.get(type) ?? 0)) this.typeKnown.set(type, head);
  }

  private async found(head: number): Promise<void> {
    if (head > this.known) {
      this.known = head;
      this.all.next(head);
    }
    if (this.byType.size === 0 || (this.typeHeadsAt !== undefined && head <= this.typeHeadsAt)) return;
    // A read that fails (the library closing under it) is left to the next wake-up.
    const typeHeads = await this.options.readTypeHeads().catch(() => undefined);
    if (!typeHeads || !this.lifetime.running) return;
    if (head > (this.typeHeadsAt ?? 0)) this.typeHeadsAt = head;
    // Every value in typeKnown was visible when it was recorded, and a stream reads what is
    // visible after it subscribes: a commit it has not seen is above its type's known head.
    for (const [type, typeHead] of typeHeads) {
      if (typeHead <= (this.typeKnown.get(type) ?? 0)) continue;
      this.typeKnown.set(type, typeHead);
      this.byType.get(type)?.next(typeHead);
    }
  }

  private watch(): () => void {
    const { file, fallbackPollMs, notifications } = this.options;
    this.typeHeadsAt = undefined;
    const reads = new HeadReads(this.options.readHead, (head) => this.found(head));
    let watcher: fs.FSWatcher | undefined;
    let watchFailed = false;

    const failed = (error: Error) => {
      watcher?.close();
      watcher = undefined;
      // Reported once per outage: the fallback poll tries to watch again at every tick.
      if (watchFailed) return;
      watchFailed = true;
      this.options.onWatchError?.(
        new TidemarkError(
          'STORAGE',
          `cannot watch ${path.dirname(file)} for commits of other processes (${error.message}); ` +
            `they are seen within ${fallbackPollMs} ms instead`,
          { cause: error },
        ),
      );
    };

    const startWatching = () => {
      const wal = walFileOf(file);
      try {
        // The directory, not the WAL itself: the WAL may not exist yet, and is removed and made
        // again when every connection closes and a new one opens.
        watcher = fs.watch(path.dirname(wal), { persistent: true }, (_event, name) => {
          // Some platforms do not name the file; then any change in the directory counts.
          if (name === null || name === path.basename(wal)) reads.notified();
        });
        watcher.on('error', failed);
        watchFailed = false;
      } catch (error) {
        failed(error as Error);
      }
    };

    if (notifications) startWatching();
    const poll = setInterval(() => {
      if (notifications && !watcher) startWatching();
      void reads.look();
    }, fallbackPollMs);
    // Commits made between the subscriber's last read and this subscription are not lost.
    void reads.look();

    return () => {
      reads.stop();
      clearInterval(poll);
      watcher?.close();
    };
  }
}

/**
 * SQLite's WAL is named after the database file with symlinks resolved (the unix VFS follows
 * them), so it sits next to the real file, not next to the link.
 */
function walFileOf(file: string): string {
  let real = file;
  try {
    real = fs.realpathSync(file);
  } catch {
    // Gone or unreadable: watch where it was; the fallback poll covers the rest.
  }
  return `${real}-wal`;
}
