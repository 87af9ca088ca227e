import * as parcelWatcher from '@parcel/watcher';
import { Library, readLocationsOfDevice } from '@tidemark/engine';
import type { Logger } from '@tidemark/node';
import * as fs from 'node:fs';
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
  readonly subscribe?: Subscribe;
}

/** Short enough that followers see a change within a second, long enough to batch a burst. */
const DEFAULT_SETTLE_MS = 100;

type Reason = 'start' | 'events' | 'watcher-error';

/**
 * One location kept current: every burst of file-system events is followed by a streamed
 * re-index of the location through the same indexer and write path as `tidemark index`, which
 * writes only what changed. A full re-index, not the event paths alone, is what makes it
 * lossless: an event dropped by the kernel (queue overflow), or missed while the node was down,
 * is caught by the next run. Runs never overlap; events during a run cause one more.
 */
class WatchedLocation {
  private subscription: { unsubscribe(): Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pending: Reason | undefined;
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
    this.schedule('start', 0);
  }

  private onEvents(error: Error | null, events: readonly parcelWatcher.Event[]): void {
    if (error) {
      // Overflow and other watcher failures: events were lost, so the whole location is rescanned.
      this.logger.warn({ location: this.path, err: error }, 'watcher error; rescanning the location');
      this.schedule('watcher-error', 0);
    } else if (events.length > 0) {
      this.schedule('events', this.options.settleMs ?? DEFAULT_SETTLE_MS);
    }
  }

  private schedule(reason: Reason, delayMs: number): void {
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

  private async run(reason: Reason): Promise<void> {
    if (!fs.existsSync(this.path)) {
      this.logger.warn({ location: this.path, reason }, 'location is missing; its entries are kept');
      return;
    }
    let summary: IndexSummary;
    try {
      summary = await indexLocation(this.library, this.path, {
        exclude: this.options.exclude,
        onProblem: (problem) =>
          this.logger.warn(
            { location: this.path, path: problem.relativePath, reason: problem.reason },
            problem.type === 'special' ? 'skipped' : 'unreadable',
          ),
      });
    } catch (error) {
      // The library closing under a run at shutdown is not a failure of the location.
      if (!this.closed) this.logger.error({ location: this.path, reason, err: error }, 'indexing failed');
      return;
    }
    const { added, updated, moved, deleted, unchanged, unreadable, seconds } = summary;
    this.logger.info(
      { location: this.path, reason, added, updated, moved, deleted, unchanged, unreadable, seconds },
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
