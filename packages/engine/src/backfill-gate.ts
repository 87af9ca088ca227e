import { ResourceName } from './resource-types';

interface Waiter {
  readonly priority: number;
  readonly grant: () => void;
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
      const start = () => {
        this.active.set(name, (this.active.get(name) ?? 0) + 1);
        resolve(release);
      };
      if ((this.active.get(name) ?? 0) === 0) return start();
      let timer: NodeJS.Timeout | undefined = undefined;
      const waiter: Waiter = {
        priority,
        grant: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', leave);
          start();
        },
      };
      const leave = () => {
        const queue = this.waiting.get(name) ?? [];
        const at = queue.indexOf(waiter);
        if (at >= 0) queue.splice(at, 1);
        waiter.grant();
      };
      timer = setTimeout(leave, this.maxWaitMs);
      signal?.addEventListener('abort', leave, { once: true });
      const queue = this.waiting.get(name) ?? [];
      queue.push(waiter);
      this.waiting.set(name, queue);
    });
  }

  private next(name: ResourceName): void {
    const queue = this.waiting.get(name) ?? [];
    if (queue.length === 0) return;
    let best = 0;
    for (let index = 1; index < queue.length; index++) {
      if (queue[index].priority > queue[best].priority) best = index;
    }
    const [waiter] = queue.splice(best, 1);
    waiter.grant();
  }
}
