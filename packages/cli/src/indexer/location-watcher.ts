import * as parcelWatcher from '@parcel/watcher';
import { Library, readLocationsOfDevice } from '@tidemark/engine';
import type { Logger } from '@tidemark/node';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { indexLocation, IndexSummary } from './index-location';

/** What the watcher needs of @parcel/watcher; a test wraps the real one to drop events. */
export type Subscribe = (
  dir: string,
  onEvents: (error: Error | null, events: readonly parcelWatcher.Event[]) => void,
  options: { readonly ignore: string[] },
) => Promise<{ unsubscribe(): Promise<void> }>;

export interface WatchOptions {
  /** Absolute paths never indexed (the library's own directory). */
  readonly exclude?: readonly string[];
  /** Events are gathered this long before a run, so a burst (an unpacked archive) is one run. */
  readonly settleMs?: number;
  /** A whole-location rescan this often, as a safety net for events a watcher never reported. */
  readonly fullRescanMs?: number;
  readonly subscribe?: Subscribe;
  /** Called after each run with what it did (tests, metrics). */
  readonly onIndexed?: (summary: IndexSummary, reason: WatchRunReason, location: string) => void;
}

/** Short enough that followers see a change within a second, long enough to batch a burst. */
const DEFAULT_SETTLE_MS = 100;
/** Hourly: a full walk of a NAS-sized location costs minutes of disk time. */
const DEFAULT_FULL_RESCAN_MS = 60 * 60 * 1000;
/**
 * Directories held for the next run; a burst touching more (a big copy, a checkout) is one
 * whole-location rescan instead, so what is held stays bounded.
 */
const MAX_DIRTY_DIRECTORIES = 1_000;

export type WatchRunReason = 'start' | 'events' | 'watcher-error' | 'periodic';

/**
 * One location kept current. A burst of file-system events is followed by a rescan of only the
 * directories the events name: each one's own listing is compared with its stored children (a
 * new directory is walked whole), through the same indexer and write path as `tidemark index`,
 * which writes only what changed. A whole-location rescan, which catches whatever the events
 * missed, runs at start (changes made while the node was down), on a watcher error (the kernel's
 * queue overflowed: events were lost), on a burst too big to track, and every `fullRescanMs`.
 * Runs never overlap; events during a run are held for the next one.
 */
class WatchedLocation {
  private subscription: { unsubscribe(): Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pending: WatchRunReason | undefined;
  /** Directories (relative paths) named by events since the last run began. */
  private dirty = new Set<string>();
  /** Whether the next run must walk the whole location. */
  private full = false;
  private closed = false;

  constructor(
    private readonly library: Library,
    readonly path: string,
    private readonly logger: Logger,
    private readonly options: WatchOptions,
  ) {}

  async start(subscribe: Subscribe): Promise<void> {
    // Subscribed before the first run: a change made while it walks is not missed.
    this.subscription = await subscribe(this.path, (error, events) => this.onEvents(error, events), {
      ignore: [...(this.options.exclude ?? [])],
    });
    this.full = true;
    this.schedule('start', 0);
    const every = this.options.fullRescanMs ?? DEFAULT_FULL_RESCAN_MS;
    this.periodic = setInterval(() => {
      this.full = true;
      this.schedule('periodic', 0);
    }, every);
    this.periodic.unref();
  }

  private onEvents(error: Error | null, events: readonly parcelWatcher.Event[]): void {
    if (error) {
      // Overflow and other watcher failures: events were lost, so the whole location is rescanned.
      this.logger.warn({ location: this.path, err: error }, 'watcher error; rescanning the location');
      this.full = true;
      this.schedule('watcher-error', 0);
      return;
    }
    if (events.length === 0) return;
    for (const event of events) {
      const relative = path.relative(this.path, event.path).split(path.sep).join('/');
      if (relative === '' || relative.startsWith('../') || relative === '..' || path.isAbsolute(relative)) {
        // The location's root itself (removed, or renamed): only a whole rescan can say.
        this.full = true;
        continue;
      }
      // The directory that holds the changed path: its listing shows a create, delete or rename.
      const slash = relative.lastIndexOf('/');
      this.dirty.add(slash < 0 ? '' : relative.slice(0, slash));
    }
    if (this.dirty.size > MAX_DIRTY_DIRECTORIES) {
      this.full = true;
      this.dirty.clear();
    }
    this.schedule('events', this.options.settleMs ?? DEFAULT_SETTLE_MS);
  }

  private schedule(reason: WatchRunReason, delayMs: number): void {
    if (this.closed) return;
    if (this.running) {
      this.pending ??= reason;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.run(reason).finally(() => {
        this.running = undefined;
        const next = this.pending;
        this.pending = undefined;
        if (next) this.schedule(next, 0);
      });
    }, delayMs);
  }

  private async run(reason: WatchRunReason): Promise<void> {
    // What this run covers is taken now: events from here on are for the next run.
    const scopes = this.full ? undefined : [...this.dirty];
    this.full = false;
    this.dirty = new Set();
    if (scopes?.length === 0) return;
    if (!fs.existsSync(this.path)) {
      this.logger.warn({ location: this.path, reason }, 'location is missing; its entries are kept');
      return;
    }
    let summary: IndexSummary;
    try {
      summary = await indexLocation(this.library, this.path, {
        exclude: this.options.exclude,
        scopes,
        onProblem: (problem) =>
          this.logger.warn(
            { location: this.path, path: problem.relativePath, reason: problem.reason },
            problem.type === 'special' ? 'skipped' : 'unreadable',
          ),
      });
    } catch (error) {
      // The library closing under a run at shutdown is not a failure of the location.
      if (!this.closed) {
        this.logger.error({ location: this.path, reason, err: error }, 'indexing failed');
        // What this run was to cover is covered by the next one, whole.
        this.full = true;
      }
      return;
    }
    this.options.onIndexed?.(summary, reason, this.path);
    const { added, updated, moved, deleted, unchanged, unreadable, seconds } = summary;
    this.logger.info(
      {
        location: this.path,
        reason,
        directories: scopes?.length ?? 'all',
        added,
        updated,
        moved,
        deleted,
        unchanged,
        unreadable,
        seconds,
      },
      'location indexed',
    );
  }

  /** Resolves once no run is scheduled, running or pending. */
  async settled(): Promise<void> {
    while (this.timer || this.running) {
      await (this.running ?? new Promise((resolve) => setTimeout(resolve, 10)));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.periodic) clearInterval(this.periodic);
    this.timer = undefined;
    await this.subscription?.unsubscribe();
    await this.running;
  }
}

/**
 * Keeps every location this device has indexed current while a node runs (`tidemark node
 * --watch`). Renames arrive from @parcel/watcher on Linux as a delete and a create; the indexer
 * pairs them by device and inode (moved-entries.ts), so a moved file keeps its entry.
 */
export class LocationWatcher {
  private constructor(private readonly locations: readonly WatchedLocation[]) {}

  static async start(library: Library, logger: Logger, options: WatchOptions = {}): Promise<LocationWatcher> {
    const subscribe: Subscribe =
      options.subscribe ?? ((dir, onEvents, opts) => parcelWatcher.subscribe(dir, onEvents, opts));
    const stored = await readLocationsOfDevice(library, library.identity.deviceId);
    const locations: WatchedLocation[] = [];
    for (const location of stored) {
      const watched = new WatchedLocation(library, location.path, logger, options);
      try {
        await watched.start(subscribe);
        locations.push(watched);
        logger.info({ location: location.path }, 'watching location');
      } catch (error) {
        // A location on a disk that is not mounted: the others are still watched.
        logger.warn({ location: location.path, err: error }, 'cannot watch location');
      }
    }
    if (stored.length === 0) logger.warn('no indexed locations to watch; index one with `tidemark index`');
    return new LocationWatcher(locations);
  }

  /** Resolves once every location's runs are done and none is scheduled (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all(this.locations.map((location) => location.settled()));
  }

  get paths(): readonly string[] {
    return this.locations.map((location) => location.path);
  }

  async close(): Promise<void> {
    await Promise.all(this.locations.map((location) => location.close()));
  }
}
