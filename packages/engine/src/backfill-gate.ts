import { ResourceName } from './resource-types';

interface Waiter {
  readonly priority: number;
  readonly grant: (handover: boolean) => void;
}

/**
 * Lets a node backfill each type from one peer at a time (docs/architecture.md, "Origin-aware
 * serving"): origin prefixes arrive with a stream's caught-up batch, so the peers that come
 * after the first are asked with what it delivered, and leave it out. The waiting peer that
 * holds the most of the type goes next. Only an optimisation: a waiter that waited `maxWaitMs`
 * goes anyway, so a slow or vanished peer never blocks the others for long.
 */
export class BackfillGate {
  private readonly active = new Map<ResourceName, number>();
  private readonly waiting = new Map<ResourceName, Waiter[]>();
  /** Called when a backfill of the type starts while none ran. */
  private readonly busyListeners = new Map<ResourceName, Set<() => void>>();
  /** Resolved when no backfill of the type runs or waits. */
  private readonly idleWaiters = new Map<ResourceName, Set<() => void>>();

  constructor(private readonly maxWaitMs = 60_000) {}

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
        if (before === 0 && !handover)
          for (const listener of [...(this.busyListeners.get(name) ?? [])]) listener();
        resolve(release);
      };
      if ((this.active.get(name) ?? 0) === 0) return start(false);
      let timer: NodeJS.Timeout | undefined = undefined;
      const waiter: Waiter = {
        priority,
        grant: (handover) => {
          clearTimeout(timer);
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
      timer = setTimeout(leave, this.maxWaitMs);
      signal?.addEventListener('abort', leave, { once: true });
      const queue = this.waiting.get(name) ?? [];
      queue.push(waiter);
      this.waiting.set(name, queue);
    });
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
   * Resolves when no backfill of the type runs or waits, or after `maxWaitMs`, or on abort. A
   * follow stream of the type waits for it before it is asked: what another peer relays of an
   * origin this node is backfilling directly would cross twice, since claims on that origin
   * only exist once the backfill caught up; asked after, the relay leaves it out.
   */
  whenIdle(name: ResourceName, signal?: AbortSignal): Promise<void> {
    if (!this.busy(name)) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.idleWaiters.get(name) ?? new Set();
      const done = () => {
        waiters.delete(done);
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, this.maxWaitMs);
      signal?.addEventListener('abort', done, { once: true });
      waiters.add(done);
      this.idleWaiters.set(name, waiters);
    });
  }

  private next(name: ResourceName): void {
    const queue = this.waiting.get(name) ?? [];
    if (queue.length === 0) {
      for (const done of [...(this.idleWaiters.get(name) ?? [])]) done();
      return;
    }
    let best = 0;
    for (let index = 1; index < queue.length; index++) {
      if (queue[index].priority > queue[best].priority) best = index;
    }
    const [waiter] = queue.splice(best, 1);
    waiter.grant(true);
  }
}
