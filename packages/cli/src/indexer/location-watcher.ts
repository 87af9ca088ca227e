import * as parcelWatcher from '@parcel/watcher';
import { Library, readLocationsOfDevice } from '@tidemark/engine';
import type { Logger } from '@tidemark/node';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Subscription } from 'rxjs';
import { exclusionsUnder } from './exclusions';
import { indexLocation, IndexSummary } from './index-location';
import { GoneEntry } from './moved-entries';
import { probeVolume, sameWatch, volumeUuidOf, WatchIdentity, watchIdentityOf } from './volume';

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
  /**
   * After a failed run, a whole rescan this much later, the wait doubling with each failure in a
   * row up to `fullRescanMs`: what the failed run was to write is not left for the next event.
   */
  readonly retryMs?: number;
  /**
   * A file gone in one burst of events is kept this long for a create in a later burst to claim
   * as moved (a rename whose two events fall into two bursts keeps its entry); then its
   * directory is rescanned, and what is still gone is deleted.
   */
  readonly moveWindowMs?: number;
  /**
   * How often each location's mount and directory are looked at. When its disk was unmounted or
   * mounted since (the mount holding the path changed), or its directory was removed and made
   * again, the kernel's watch is gone or watches the wrong file system or directory: the location
   * is watched again and rescanned whole. A location not watched (its path was gone) is tried
   * again at each look.
   */
  readonly mountCheckMs?: number;
  readonly subscribe?: Subscribe;
  /** Called after each run with what it did (tests, metrics). */
  readonly onIndexed?: (summary: IndexSummary, reason: WatchRunReason, location: string) => void;
}

/** Short enough that followers see a change within a second, long enough to batch a burst. */
const DEFAULT_SETTLE_MS = 100;
/** Hourly: a full walk of a NAS-sized location costs minutes of disk time. */
const DEFAULT_FULL_RESCAN_MS = 60 * 60 * 1000;
/** Long enough for a busy library (another process's long write) or a disk waking up. */
const DEFAULT_RETRY_MS = 30_000;
/** A disk plugged back in is watched again within seconds; a look costs one read of the mount table. */
const DEFAULT_MOUNT_CHECK_MS = 5_000;
/**
 * Long enough for the second half of a rename split by the settle window, short enough that a
 * delete still reaches followers in about a second.
 */
const DEFAULT_MOVE_WINDOW_MS = 1_000;
/**
 * Directories held for the next run; a burst touching more (a big copy, a checkout) is one
 * whole-location rescan instead, so what is held stays bounded.
 */
const MAX_DIRTY_DIRECTORIES = 1_000;
/** Gone entries kept for a later move, about 150 bytes each; beyond this many they are deleted at once. */
const MAX_KEPT_ENTRIES = 50_000;

interface KeptEntry {
  /** performance.now() when it was first found gone. */
  readonly since: number;
  /** Its directory, rescanned once its window has passed. */
  readonly directory: string;
}

export type WatchRunReason =
  'start' | 'events' | 'watcher-error' | 'periodic' | 'retry' | 'moves' | 'remount' | 'replaced';

/**
 * The reason a run that was asked for twice is reported with: the first, unless it was only
 * events and the second is what made the run whole (a remount seen while a burst settled).
 */
function strongerReason(first: WatchRunReason | undefined, second: WatchRunReason): WatchRunReason {
  return first === undefined || (first === 'events' && second !== 'events') ? second : first;
}

const parentOf = (relativePath: string) => relativePath.slice(0, Math.max(0, relativePath.lastIndexOf('/')));

/**
 * Whether `absolute` is a directory holding a directory (which the watcher may not watch yet).
 * Read up to the first one only: a directory moved in may hold 100,000 files.
 */
function hasSubdirectory(absolute: string): boolean {
  let listing: fs.Dir | undefined;
  try {
    if (!fs.lstatSync(absolute).isDirectory()) return false;
    listing = fs.opendirSync(absolute);
    for (let entry = listing.readSync(); entry; entry = listing.readSync()) {
      if (entry.isDirectory()) return true;
    }
    return false;
  } catch {
    return false;
  } finally {
    listing?.closeSync();
  }
}

/**
 * One location kept current. A burst of file-system events is followed by a rescan of only the
 * directories the events name: each one's own listing is compared with its stored children (a
 * new directory is walked whole), through the same indexer and write path as `tidemark index`,
 * which writes only what changed. A whole-location rescan, which catches whatever the events
 * missed, runs at start (changes made while the node was down), on a watcher error (events were
 * lost), on a burst too big to track, after the watch is renewed, and every `fullRescanMs`. On
 * Linux a kernel queue overflow reaches none of these: @parcel/watcher 2.6 drops IN_Q_OVERFLOW
 * unreported, so only the periodic rescan finds what it lost.
 * Runs never overlap; events during a run are held for the next one.
 *
 * A run does not delete at once what is gone but could have moved (an entry with an inode): a
 * rename's delete and create may come in two bursts, and a whole rescan may fall between them
 * (or walk past the new path before the file got there). Such entries stay stored for
 * `moveWindowMs` from when a run first found them gone, whatever runs come in between, and a
 * later run can claim them as moved; then their directories are rescanned once more, deleting
 * what is still gone.
 */
class WatchedLocation {
  private subscription: { unsubscribe(): Promise<void> } | undefined;
  private subscribe: Subscribe | undefined;
  /** The mount and the directory the subscription was made on (watchIdentityOf). */
  private watchedAs: WatchIdentity | undefined;
  /** Whether the failure to watch the location again was logged: told once until it is watched. */
  private toldUnwatched = false;
  private mountCheck: NodeJS.Timeout | undefined;
  private checkingMount: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** What the run the timer starts is for. */
  private timerReason: WatchRunReason | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  /** Failed runs in a row. */
  private failures = 0;
  private running: Promise<void> | undefined;
  private pending: WatchRunReason | undefined;
  /** Directories (relative paths) named by events since the last run began. */
  private dirty = new Set<string>();
  /** Whether the next run must walk the whole location. */
  private full = false;
  /**
   * Gone entries kept for a later move (see the class comment), by uuid, in the order they were
   * first kept: when (performance.now()) and in which directory.
   */
  private kept = new Map<string, KeptEntry>();
  /** Fires when the oldest kept entry's window has passed: a run then rescans its directory. */
  private release: NodeJS.Timeout | undefined;
  private closed = false;
  /** Aborted by close(): a run in progress (a whole rescan of a large location) stops early. */
  private readonly stopping = new AbortController();
  /**
   * Whether the subscription must be made anew before the next run: @parcel/watcher's inotify
   * backend watches only the directory a create or rename names, not the directories inside it
   * (moved in with it, or made before the watch), keeps reporting a renamed directory's
   * subdirectories under their old paths, and drops the location's own watch when the location
   * directory is moved or deleted. A new subscription walks the tree and watches it as it is now.
   */
  private renew = false;

  constructor(
    private readonly library: Library,
    readonly path: string,
    private readonly logger: Logger,
    private readonly options: WatchOptions,
  ) {}

  async start(subscribe: Subscribe): Promise<void> {
    this.subscribe = subscribe;
    // Read before subscribing: a mount that changes in between is seen by the first check.
    this.watchedAs = await watchIdentityOf(this.path);
    // Subscribed before the first run: a change made while it walks is not missed.
    this.subscription = await this.subscribeNow(subscribe);
    this.full = true;
    this.schedule('start', 0);
    const every = this.options.fullRescanMs ?? DEFAULT_FULL_RESCAN_MS;
    this.periodic = setInterval(() => {
      this.full = true;
      this.schedule('periodic', 0);
    }, every);
    this.periodic.unref();
    this.mountCheck = setInterval(() => {
      this.checkingMount ??= this.checkMount().finally(() => (this.checkingMount = undefined));
    }, this.options.mountCheckMs ?? DEFAULT_MOUNT_CHECK_MS);
    this.mountCheck.unref();
  }

  private subscribeNow(subscribe: Subscribe): Promise<{ unsubscribe(): Promise<void> }> {
    return subscribe(this.path, (error, events) => this.onEvents(error, events), {
      ignore: exclusionsUnder(this.path, this.options.exclude),
    });
  }

  /**
   * The location subscribed anew (see `renew`), serialized with checkMount. The old subscription
   * is stopped first: @parcel/watcher shares its tree of the directory between subscriptions, so
   * only then does the new one read the tree as it is. What changes in between is reported by
   * no one, so the run that follows is whole.
   */
  private async renewSubscription(): Promise<void> {
    while (this.checkingMount) await this.checkingMount;
    this.renew = false;
    const renewing = (async () => {
      const old = this.subscription;
      // Not watched: checkMount subscribes it again once its path is there.
      if (this.closed || !this.subscribe || !old) return;
      this.subscription = undefined;
      try {
        await old.unsubscribe();
      } catch (error) {
        this.logger.debug({ location: this.path, err: error }, 'could not stop the old watch');
      }
      try {
        this.subscription = await this.subscribeNow(this.subscribe);
        this.full = true;
      } catch (error) {
        // The location's directory is gone (moved away): checkMount watches it again once it is
        // back, and rescans it whole.
        this.logger.warn({ location: this.path, err: error }, 'cannot watch location');
        this.toldUnwatched = true;
      }
    })();
    this.checkingMount = renewing.finally(() => (this.checkingMount = undefined));
    await this.checkingMount;
  }

  /**
   * A disk unmounted or mounted under the location since it was subscribed: the kernel dropped
   * the watch with the old mount, or it watches the directory the new mount hides. The same for a
   * location directory removed (the watch went with it) and made again. No event would come
   * again, so the location is subscribed anew and rescanned whole (a run on a disk that is not
   * there keeps every entry: onItsVolume). While the path is gone, every look tries again: the
   * kernel gives a mount id back to the next mount, so a disk back under its old id, once its
   * mount point was gone, would otherwise never be watched again.
   */
  private async checkMount(): Promise<void> {
    const now = await watchIdentityOf(this.path);
    if (this.closed || !this.subscribe) return;
    if (this.subscription && sameWatch(now, this.watchedAs)) return;
    const mountChanged = now.mount !== this.watchedAs?.mount;
    if (this.subscription || mountChanged) {
      this.logger.info(
        { location: this.path, was: this.watchedAs?.mount, now: now.mount },
        mountChanged
          ? "location's mount changed (a disk unmounted or mounted); watching it again"
          : "location's directory was removed or replaced; watching it again",
      );
    }
    const old = this.subscription;
    this.subscription = undefined;
    // Whatever happens next, this is what was looked at: a later change is a change from it.
    this.watchedAs = now;
    try {
      await old?.unsubscribe();
    } catch (error) {
      // The kernel already dropped the watch with its mount: nothing is left to stop.
      this.logger.debug({ location: this.path, err: error }, 'could not stop the old watch');
    }
    try {
      const subscription = await this.subscribeNow(this.subscribe);
      if (this.closed) {
        await subscription.unsubscribe();
        return;
      }
      this.subscription = subscription;
      this.toldUnwatched = false;
    } catch (error) {
      // The path is gone for now: the next look tries again, and this is told once.
      if (!this.toldUnwatched) this.logger.warn({ location: this.path, err: error }, 'cannot watch location');
      this.toldUnwatched = true;
      return;
    }
    this.full = true;
    this.schedule(mountChanged ? 'remount' : 'replaced', 0);
  }

  private onEvents(error: Error | null, events: readonly parcelWatcher.Event[]): void {
    if (error) {
      // A watcher failure: events were lost, so the whole location is rescanned.
      this.logger.warn({ location: this.path, err: error }, 'watcher error; rescanning the location');
      this.full = true;
      this.schedule('watcher-error', 0);
      return;
    }
    if (events.length === 0) return;
    for (const event of events) {
      const relative = path.relative(this.path, event.path).split(path.sep).join('/');
      if (relative === '' || relative.startsWith('../') || relative === '..' || path.isAbsolute(relative)) {
        // The location's root itself (removed, or renamed): only a whole rescan can say. The
        // watcher dropped the root's own watch with it, even if it is back in place.
        this.full = true;
        this.renew = true;
        continue;
      }
      if (event.type === 'create' && !this.renew && hasSubdirectory(event.path)) this.renew = true;
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
      this.pending = strongerReason(this.pending, reason);
      return;
    }
    this.timerReason = strongerReason(this.timerReason, reason);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const why = this.timerReason ?? reason;
      this.timerReason = undefined;
      this.running = this.run(why).finally(() => {
        this.running = undefined;
        const next = this.pending;
        this.pending = undefined;
        if (next) this.schedule(next, 0);
      });
    }, delayMs);
  }

  private async run(reason: WatchRunReason): Promise<void> {
    // After a failure the retry's whole rescan comes first; a missing location waits for an event.
    if (await this.runOnce(reason)) this.armRelease();
  }

  /** One run; false when it failed or could not look at the location. */
  private async runOnce(reason: WatchRunReason): Promise<boolean> {
    // Watched as the tree is now before it is looked at: what changes from here on is reported.
    if (this.renew) await this.renewSubscription();
    // What this run covers is taken now: events from here on are for the next run.
    const startedAt = performance.now();
    const windowMs = this.options.moveWindowMs ?? DEFAULT_MOVE_WINDOW_MS;
    // Kept entries whose window has passed: this run looks at their directories again, and
    // deletes those still gone.
    const due = new Set<string>();
    const dueDirectories = new Set<string>();
    for (const [uuid, kept] of this.kept) {
      if (kept.since + windowMs > startedAt) break;
      due.add(uuid);
      dueDirectories.add(kept.directory);
    }
    if (this.dirty.size + dueDirectories.size > MAX_DIRTY_DIRECTORIES) this.full = true;
    const scopes = this.full ? undefined : [...new Set([...this.dirty, ...dueDirectories])];
    this.full = false;
    // A whole rescan (any run after a failure is one) covers what the retry was for.
    if (!scopes && this.retry) {
      clearTimeout(this.retry);
      this.retry = undefined;
    }
    this.dirty = new Set();
    if (scopes?.length === 0) return true;
    // Every run, a whole rescan too, keeps a gone entry for a later move until its window has
    // passed: a rescan (at start, on a watcher error, periodic) that falls between the two halves of a
    // move must not delete the entry the second half will claim.
    const keepGone = (gone: GoneEntry): boolean => {
      const kept = this.kept.get(gone.uuid);
      if (kept) return !due.has(gone.uuid);
      // Bounded: beyond this many, a gone entry is deleted at once (a move of it is a delete and a create).
      if (this.kept.size >= MAX_KEPT_ENTRIES) return false;
      this.kept.set(gone.uuid, { since: performance.now(), directory: parentOf(gone.relativePath) });
      return true;
    };
    // A run that cannot look at the location covers nothing of what it took: the next run that
    // can is whole, since events for the scopes taken above will not come again.
    if (!fs.existsSync(this.path)) {
      this.logger.warn({ location: this.path, reason }, 'location is missing; its entries are kept');
      this.full = true;
      return false;
    }
    let summary: IndexSummary;
    try {
      if (!(await this.isStillItsPath(reason)) || !(await this.onItsVolume(reason))) {
        this.full = true;
        return false;
      }
      summary = await indexLocation(this.library, this.path, {
        exclude: this.options.exclude,
        scopes,
        keepGone,
        signal: this.stopping.signal,
        onProblem: (problem) =>
          this.logger.warn(
            { location: this.path, path: problem.relativePath, reason: problem.reason },
            problem.type === 'special' ? 'skipped' : 'unreadable',
          ),
      });
    } catch (error) {
      // The library closing under a run at shutdown is not a failure of the location.
      if (!this.closed) {
        // What this run was to cover is covered by the next one, whole, and soon.
        this.full = true;
        const every = this.options.fullRescanMs ?? DEFAULT_FULL_RESCAN_MS;
        const wait = Math.min(every, (this.options.retryMs ?? DEFAULT_RETRY_MS) * 2 ** this.failures++);
        this.logger.error({ location: this.path, reason, err: error, retryInMs: wait }, 'indexing failed');
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.schedule('retry', 0);
        }, wait);
        this.retry.unref();
      }
      return false;
    }
    this.failures = 0;
    // Each due entry was deleted by this run if still gone, or is no longer gone (claimed by a
    // move, or back): either way no longer kept. One gone again later is kept anew.
    for (const uuid of due) this.kept.delete(uuid);
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
    return true;
  }

  /**
   * Whether the location is on the volume it was indexed on. A removable disk or a network share
   * that is not mounted leaves its mount point behind as an empty directory of the disk below: a
   * run there would find every entry gone and delete them all (and point the location at the
   * other volume). The watcher never does that; `tidemark index` by hand re-indexes a location
   * that really moved to another volume.
   */
  /**
   * Whether the location's path still leads to itself: a location is stored under its real path,
   * so one that now resolves elsewhere (the directory replaced by a symbolic link, a parent
   * directory re-pointed) would be indexed as another location, created for the target, while
   * this one kept its entries of files that may be gone.
   */
  private async isStillItsPath(reason: WatchRunReason): Promise<boolean> {
    const real = await fs.promises.realpath(this.path);
    if (real === this.path) return true;
    this.logger.warn(
      { location: this.path, reason, leadsTo: real },
      'location path now leads elsewhere (replaced by a symbolic link?); its entries are kept and it is not indexed; `tidemark index` indexes the target as a location of its own',
    );
    return false;
  }

  private async onItsVolume(reason: WatchRunReason): Promise<boolean> {
    const deviceId = this.library.identity.deviceId;
    const stored = (await readLocationsOfDevice(this.library, deviceId)).find(
      (location) => location.path === this.path,
    );
    if (!stored?.volumeUuid) return true;
    const probe = await probeVolume(this.path);
    const volumeUuid = volumeUuidOf(deviceId, probe);
    if (volumeUuid === stored.volumeUuid) return true;
    this.logger.warn(
      { location: this.path, reason, mountPoint: probe.mountPoint, filesystem: probe.filesystem },
      'location is not on the volume it was indexed on (a disk not mounted?); its entries are kept; `tidemark index` re-indexes it where it is now',
    );
    return false;
  }

  /** Sets the release timer for the oldest kept entry, unless one is set. */
  private armRelease(): void {
    if (this.closed || this.release) return;
    const oldest = this.kept.values().next();
    if (oldest.done) return;
    const windowMs = this.options.moveWindowMs ?? DEFAULT_MOVE_WINDOW_MS;
    this.release = setTimeout(
      () => {
        this.release = undefined;
        this.schedule('moves', 0);
      },
      Math.max(0, oldest.value.since + windowMs - performance.now()),
    );
    this.release.unref();
  }

  /** Resolves once no run is scheduled, running or pending. */
  async settled(): Promise<void> {
    while (this.timer || this.running) {
      await (this.running ?? new Promise((resolve) => setTimeout(resolve, 10)));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopping.abort();
    if (this.timer) clearTimeout(this.timer);
    if (this.periodic) clearInterval(this.periodic);
    if (this.mountCheck) clearInterval(this.mountCheck);
    await this.checkingMount;
    if (this.retry) clearTimeout(this.retry);
    if (this.release) clearTimeout(this.release);
    this.timer = undefined;
    try {
      await this.subscription?.unsubscribe();
    } catch (error) {
      // The kernel already dropped the watch (its disk was unmounted): nothing is left to stop.
      this.logger.warn({ location: this.path, err: error }, 'could not stop watching location');
    }
    await this.running;
  }
}

/**
 * Keeps every location this device has indexed current while a node runs (`tidemark node
 * --watch`). Renames arrive from @parcel/watcher on Linux as a delete and a create; the indexer
 * pairs them by device and inode (moved-entries.ts), so a moved file keeps its entry.
 *
 * A location indexed while the node runs (`tidemark index` in another process writes the same
 * library) is watched at once: a commit that may have written a location (the library's commit
 * notification, which sees other processes' commits too) makes the watcher read this device's
 * locations again and start on any new one.
 */
export class LocationWatcher {
  private readonly locations = new Map<string, WatchedLocation>();
  /**
   * Locations that could not be watched (their path is gone: a disk not mounted, no mount point
   * left): not retried on every commit, but once their path is there again (`mountCheckMs`).
   */
  private readonly unwatchable = new Set<string>();
  /** Locations whose failure to be watched was logged: told once, however often retried. */
  private readonly told = new Set<string>();
  private readonly subscribe: Subscribe;
  private changes: Subscription | undefined;
  private unwatchableCheck: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private closed = false;

  private constructor(
    private readonly library: Library,
    private readonly logger: Logger,
    private readonly options: WatchOptions,
  ) {
    this.subscribe =
      options.subscribe ?? ((dir, onEvents, opts) => parcelWatcher.subscribe(dir, onEvents, opts));
  }

  static async start(library: Library, logger: Logger, options: WatchOptions = {}): Promise<LocationWatcher> {
    const watcher = new LocationWatcher(library, logger, options);
    // Subscribed before the first read: a location committed while it runs is read again after.
    watcher.changes = library.changesOf$('location').subscribe(() => {
      watcher.refreshSoon().catch((error: unknown) => {
        if (!watcher.closed) logger.warn({ err: error }, 'cannot read the locations to watch');
      });
    });
    try {
      await watcher.refreshSoon();
    } catch (error) {
      await watcher.close();
      throw error;
    }
    watcher.unwatchableCheck = setInterval(() => {
      const back = [...watcher.unwatchable].filter((location) => fs.existsSync(location));
      if (back.length === 0) return;
      for (const location of back) watcher.unwatchable.delete(location);
      watcher.refreshSoon().catch((error: unknown) => {
        if (!watcher.closed) logger.warn({ err: error }, 'cannot read the locations to watch');
      });
    }, options.mountCheckMs ?? DEFAULT_MOUNT_CHECK_MS);
    watcher.unwatchableCheck.unref();
    if (watcher.locations.size === 0 && watcher.unwatchable.size === 0) {
      logger.warn('no indexed locations to watch yet; one indexed with `tidemark index` is watched at once');
    }
    return watcher;
  }

  /**
   * Reads the locations again, once the read running (if any) is done: a commit during a read
   * may not be in it. Reads never overlap, so a location is never started twice.
   */
  private refreshSoon(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          await this.refresh();
        } while (this.refreshAgain && !this.closed);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /** Starts watching every location of this device not watched yet. */
  private async refresh(): Promise<void> {
    const stored = await readLocationsOfDevice(this.library, this.library.identity.deviceId);
    for (const location of stored) {
      if (this.closed) return;
      if (this.locations.has(location.path) || this.unwatchable.has(location.path)) continue;
      const watched = new WatchedLocation(this.library, location.path, this.logger, this.options);
      try {
        await watched.start(this.subscribe);
      } catch (error) {
        // A location on a disk that is not mounted: the others are still watched.
        await watched.close();
        this.unwatchable.add(location.path);
        if (!this.told.has(location.path)) {
          this.told.add(location.path);
          this.logger.warn(
            { location: location.path, err: error },
            'cannot watch location; watched once its path is there again',
          );
        }
        continue;
      }
      if (this.closed) {
        await watched.close();
        return;
      }
      this.told.delete(location.path);
      this.locations.set(location.path, watched);
      this.logger.info({ location: location.path }, 'watching location');
    }
  }

  /** Resolves once every location's runs are done and none is scheduled (tests, shutdown). */
  async settled(): Promise<void> {
    await this.refreshing?.catch(() => undefined);
    await Promise.all([...this.locations.values()].map((location) => location.settled()));
  }

  get paths(): readonly string[] {
    return [...this.locations.keys()];
  }

  async close(): Promise<void> {
    this.closed = true;
    this.changes?.unsubscribe();
    if (this.unwatchableCheck) clearInterval(this.unwatchableCheck);
    await this.refreshing?.catch(() => undefined);
    await Promise.all([...this.locations.values()].map((location) => location.close()));
  }
}
