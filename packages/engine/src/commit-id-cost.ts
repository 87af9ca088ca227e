/**
 * The restored-history check's operations in this process, counted always (docs/architecture.md,
 * "Restored libraries", "What the check costs"). The bench reads the counts from each node's
 * metrics and multiplies them by the CPU one operation costs (testing/commit-id-unit-cost.ts).
 *
 * Each operation is also timed from its call to its settled promise. That is latency, not cost:
 * on SQLite it includes the waits for the connection (a lookup queues behind page reads) and for
 * a busy event loop. A timer costs two `performance.now()` calls, about 0.1 µs, a few hundred
 * times per million rows.
 */

/** The pieces of the check, by where they run. */
export const COMMIT_ID_WORK = [
  /** The `commits` row each write transaction that issued seqs inserts (the table grows by one). */
  'record',
  /** The id of the commit that issued a served page's last seq, put in its checkpoint. */
  'checkpoint',
  /** A resuming cursor of this epoch checked against the head and the commit at its seq. */
  'resume',
  /** The history mark: checked at open, rewritten at most once a second after commits. */
  'mark',
  /** Commit ids of incoming checkpoints and cursors checked for their form. */
  'validate',
] as const;
export type CommitIdWork = (typeof COMMIT_ID_WORK)[number];

export interface CommitIdWorkTotal {
  readonly seconds: number;
  readonly count: number;
}

export type CommitIdCost = { readonly [work in CommitIdWork]: CommitIdWorkTotal };

const totals = new Map<CommitIdWork, { seconds: number; count: number }>(
  COMMIT_ID_WORK.map((work) => [work, { seconds: 0, count: 0 }]),
);

function add(work: CommitIdWork, startedAt: number): void {
  const total = totals.get(work)!;
  total.seconds += (performance.now() - startedAt) / 1000;
  total.count += 1;
}

/** Runs `fn`, counting its time (settled or failed) to `work`. */
export async function timeCommitIdWork<T>(work: CommitIdWork, fn: () => Promise<T>): Promise<T> {
  const startedAt = performance.now();
  try {
    return await fn();
  } finally {
    add(work, startedAt);
  }
}

/** The same for synchronous work. */
export function timeCommitIdWorkSync<T>(work: CommitIdWork, fn: () => T): T {
  const startedAt = performance.now();
  try {
    return fn();
  } finally {
    add(work, startedAt);
  }
}

/** Totals since this process started (every library it opened). */
export function commitIdCost(): CommitIdCost {
  return Object.fromEntries(
    COMMIT_ID_WORK.map((work) => [work, { ...totals.get(work)! }]),
  ) as unknown as CommitIdCost;
}
