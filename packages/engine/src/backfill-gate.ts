import { ResourceName } from './resource-types';

interface Waiter {
  readonly priority: number;
  readonly grant: (handover: boolean) => void;
}

/** How long a type's running backfill may go without progress before the others go anyway. */
export const DEFAULT_STALL_MS = 30_000;

/**
 * Lets a node backfill each type from one peer at a time (docs/architecture.md, "Origin-aware
 * serving"): origin prefixes arrive with a stream's caught-up batch, so the peers that come
 * after the first are asked with what it delivered, and leave it out. The waiting peer that
 * holds the most of the type goes next.
 *
 * Only an optimisation, so nothing waits on a pull that does not move: the running pull reports
 * each batch it applied (`progress`), and a waiter gives up only once the type's running pulls
 * went `stallMs` without one. A pull of millions of rows on a loaded machine keeps the others
 * waiting for as long as it delivers (a fixed longest wait let them all go at once, before any
 * claim existed), while a stalled or vanished peer blocks them for `stallMs` at most (a vanished
 * one ends its pull, and the next goes, once keepalive notices it).
 */
export class BackfillGate {
  private readonly active = new Map<ResourceName, number>();
  private readonly waiting = new Map<ResourceName, Waiter[]>();
  /** When a running pull of the type last started or applied a batch (`now()` time). */
  private readonly lastProgress = new Map<ResourceName, number>();
  /** The pending stall check of each type anyone waits on. */
  private readonly stallTimers = new Map<ResourceName, NodeJS.Timeout>();
  /** Called when a backfill of the type starts while none ran. */
  private readonly busyListeners = new Map<ResourceName, Set<() => void>>();
  /** Resolved when no backfill of the type runs or waits. */
  private readonly idleWaiters = new Map<ResourceName, Set<() => void>>();

  constructor(
    private readonly stallMs = DEFAULT_STALL_MS,
    /** A monotonic clock in ms; tests drive it with fake timers. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Resolves with a release function once this pull may start. `priority`: how much of the type
   * the peer holds (its handshake head's rows and tombstones); higher goes first.
   */
  acquire(name: ResourceName, priority: number, signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve) => {
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        const left = (this.active.get(name) ?? 1) - 1;
        this.active.set(name, left);
        if (left === 0) this.next(name);
      };
      // `handover`: granted by the pull that just ended, so the type never stopped being busy.
      const start = (handover: boolean) => {
        const before = this.active.get(name) ?? 0;
        this.active.set(name, before + 1);
        this.progress(name);
        if (before === 0 && !handover)
          for (const listener of [...(this.busyListeners.get(name) ?? [])]) listener();
        resolve(release);
      };
      if ((this.active.get(name) ?? 0) === 0) return start(false);
      const waiter: Waiter = {
        priority,
        grant: (handover) => {
          signal?.removeEventListener('abort', leave);
          start(handover);
        },
      };
      const leave = () => {
        const queue = this.waiting.get(name) ?? [];
        const at = queue.indexOf(waiter);
        if (at >= 0) queue.splice(at, 1);
        waiter.grant(false);
      };
      const queue = this.waiting.get(name) ?? [];
      queue.push(waiter);
      this.waiting.set(name, queue);
      this.watchStall(name);
      signal?.addEventListener('abort', leave, { once: true });
    });
  }

  /** A running pull of the type applied a batch: those waiting on it keep waiting. */
  progress(name: ResourceName): void {
    this.lastProgress.set(name, this.now());
  }

  /** Whether a backfill of the type runs now. */
  busy(name: ResourceName): boolean {
    return (this.active.get(name) ?? 0) > 0;
  }

  /**
   * Calls `listener` each time a backfill of the type starts while none ran (a follow stream of
   * the type from another peer then pauses: see whenIdle). Returns the unsubscribe.
   */
  onBusy(name: ResourceName, listener: () => void): () => void {
    const listeners = this.busyListeners.get(name) ?? new Set();
    listeners.add(listener);
    this.busyListeners.set(name, listeners);
    return () => listeners.delete(listener);
  }

  /**
   * Resolves when no backfill of the type runs or waits, or once the running ones stalled (no
   * progress for `stallMs`), or on abort. A follow stream of the type waits for it before it is
   * asked: what another peer relays of an origin this node is backfilling directly would cross
   * twice, since claims on that origin only exist once the backfill caught up; asked after, the
   * relay leaves it out.
   */
  whenIdle(name: ResourceName, signal?: AbortSignal): Promise<void> {
    if (!this.busy(name)) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.idleWaiters.get(name) ?? new Set();
      const done = () => {
        waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      waiters.add(done);
      this.idleWaiters.set(name, waiters);
      this.watchStall(name);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * While anyone waits on the type, checks that its running pulls make progress. Once they went
   * `stallMs` without, the waiting pull that holds the most goes (its start counts as progress,
   * so the others wait on it in turn); with no pull waiting, the paused follow streams go.
   */
  private watchStall(name: ResourceName): void {
    if (this.stallTimers.has(name)) return;
    const check = () => {
      this.stallTimers.delete(name);
      const pulls = this.waiting.get(name)?.length ?? 0;
      const streams = this.idleWaiters.get(name)?.size ?? 0;
      if (pulls + streams === 0) return;
      const since = this.now() - (this.lastProgress.get(name) ?? Number.NEGATIVE_INFINITY);
      if (since >= this.stallMs) {
        if (pulls > 0) this.grantBest(name, false);
        else for (const done of [...this.idleWaiters.get(name)!]) done();
        return this.watchStall(name);
      }
      this.stallTimers.set(name, setTimeout(check, this.stallMs - since).unref());
    };
    // Unref'd: a check never keeps the process alive, and one left after the last waiter went
    // finds nobody waiting and ends.
    this.stallTimers.set(name, setTimeout(check, 0).unref());
  }

  private next(name: ResourceName): void {
    const queue = this.waiting.get(name) ?? [];
    if (queue.length === 0) {
      for (const done of [...(this.idleWaiters.get(name) ?? [])]) done();
      return;
    }
    this.grantBest(name, true);
  }

  private grantBest(name: ResourceName, handover: boolean): void {
    const queue = this.waiting.get(name) ?? [];
    let best = 0;
    for (let index = 1; index < queue.length; index++) {
      if (queue[index].priority > queue[best].priority) best = index;
    }
    const [waiter] = queue.splice(best, 1);
    waiter?.grant(handover);
  }
}
