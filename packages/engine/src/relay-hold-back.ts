import { Library } from './library';
import { ResourceName } from './resource-types';
import { SqlRunner } from './store/library-database';
import { RESOURCE_TABLES } from './store/resource-tables';

/**
 * How long a relay holds a row it took from another device back from a follow stream: about
 * the time the requester needs to take the same row from its origin, raise its claim and ask
 * again (client.ts re-asks at most every 250 ms after a claim rose; add an apply on a loaded
 * machine). docs/architecture.md, "Origin-aware serving", "Relay hold-back".
 */
export const DEFAULT_RELAY_HOLD_MS = 1_000;

/** When this process's recent commits became visible, as heads on a monotonic clock (ms). */
class RecentCommits {
  /** Heads in commit order, each with the time it was reported. */
  private readonly entries: { readonly head: number; readonly at: number }[] = [];
  /** Every seq up to this committed at least `retainMs` ago, or before this was tracked. */
  private old = 0;
  private retainMs = 0;
  readonly ready: Promise<void>;

  constructor(library: Library) {
    // Subscribed before the head is read: a commit above that head is reported after it.
    library.commits$.subscribe((head) => this.record(head));
    this.ready = library.headSeq().then((head) => {
      this.old = Math.max(this.old, head);
    });
  }

  private record(head: number): void {
    const at = performance.now();
    const last = this.entries[this.entries.length - 1];
    if (head > Math.max(this.old, last?.head ?? 0)) this.entries.push({ head, at });
    while (this.entries.length > 0 && this.entries[0].at < at - this.retainMs) {
      this.old = Math.max(this.old, this.entries.shift()!.head);
    }
  }

  /** The lowest seq committed less than `ms` ago (Infinity when none). */
  freshFrom(ms: number): number {
    this.retainMs = Math.max(this.retainMs, ms);
    const limit = performance.now() - ms;
    let bound = this.old;
    for (const entry of this.entries) {
      if (entry.at > limit) return bound + 1;
      bound = entry.head;
    }
    return Number.POSITIVE_INFINITY;
  }

  /** When the commit of `seq` was reported (long ago when it is old; now if not tracked). */
  reportedAt(seq: number): number {
    if (seq <= this.old) return Number.NEGATIVE_INFINITY;
    return this.entries.find((entry) => entry.head >= seq)?.at ?? performance.now();
  }
}

const trackers = new WeakMap<Library, RecentCommits>();

/**
 * Holds back, in one follow stream, the rows this node took from other devices in the last
 * `ms`: the page's bound stops just below the first of them, so the stream's cursor never
 * passes one, and it is served once it is `ms` old, unless the requester's re-request (with the
 * claim it raised on taking the row from its origin) reaches this node first and leaves it out.
 * Rows of this node's own lineage, rows of unknown lineage (nothing can claim them) and rows
 * the requester's claims leave out are never held.
 */
export class RelayHoldBack {
  private constructor(
    private readonly library: Library,
    private readonly commits: RecentCommits,
    private readonly ms: number,
  ) {}

  static async start(library: Library, ms: number): Promise<RelayHoldBack> {
    let commits = trackers.get(library);
    if (!commits) trackers.set(library, (commits = new RecentCommits(library)));
    await commits.ready;
    return new RelayHoldBack(library, commits, ms);
  }

  /**
   * The highest seq a page after `afterSeq` may reach, or undefined when nothing is held.
   * `keep`: the SQL condition that keeps what the requester does not hold (serve.ts).
   */
  async upTo(
    sql: SqlRunner,
    name: ResourceName,
    afterSeq: number,
    keep: string,
  ): Promise<number | undefined> {
    const from = Math.max(afterSeq + 1, this.commits.freshFrom(this.ms));
    if (!Number.isFinite(from)) return undefined;
    const table = RESOURCE_TABLES[name].table;
    const relayed = `seq >= ?1 AND origin_lineage NOT IN (0, ?2) AND ${keep}`;
    const [row] = await sql.query<{ first: number | null }>(
      `SELECT min(seq) AS first FROM (
         SELECT min(seq) AS seq FROM ${table} WHERE ${relayed}
         UNION ALL
         SELECT min(seq) AS seq FROM tombstones WHERE resource_type = ?3 AND ${relayed}
       ) AS both_kinds`,
      [from, this.library.ownLineage, name],
    );
    if (row?.first === null || row?.first === undefined) return undefined;
    this.heldAt = Number(row.first);
    return this.heldAt - 1;
  }

  /** The first held seq found by the last `upTo`. */
  private heldAt = 0;

  /** Waits until the row `upTo` stopped below may be served, or `signal` aborts. */
  async untilServable(signal: AbortSignal): Promise<void> {
    const servableAt = this.commits.reportedAt(this.heldAt) + this.ms;
    // A timer may fire a fraction of a millisecond before its delay by performance.now(): the
    // row would still be held then, and the stream would read a page for nothing.
    for (;;) {
      const delay = servableAt - performance.now();
      if (delay <= 0 || signal.aborted) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.ceil(delay));
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
}
