import { Library, WriteTransaction } from '@tidemark/engine';
import { Subscription } from 'rxjs';

/** How much one transaction of grouped batches may take on. */
export interface GroupLimits {
  /** A transaction takes no further batch once its batches held this many rows. */
  readonly rows: number;
  /** Nor once it has held the write lock this long, waiting for the next batch included. */
  readonly holdMs: number;
}

interface Queued {
  readonly rows: number;
  readonly apply: (tx: WriteTransaction) => Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly onCommit?: () => void;
}

/**
 * Writes a run's batches, in order, in write transactions that may each take several consecutive
 * batches: after a batch, the transaction goes on with the next one only when that one is already
 * on its way (`expect`ed: walked and being hashed) and the limits allow, so the write lock is never
 * held while the walk goes on, and never longer than `holdMs`. Why: the random-key indexes
 * (content_identities' uuid, entry_file_ids' inode) take each row on a page of their own, which
 * every commit writes to the WAL and every checkpoint writes again: fewer, larger commits write
 * such a page once for several batches. The run's memory is the same, one batch at a time; the
 * transaction's pages beyond SQLite's cache go to the WAL as it goes.
 *
 * Only while this run is the library's only writer: once another process has committed since this
 * run's last commit (a running node applying a sync), the next transaction takes one batch. With a
 * second writer, grouped transactions were slower than single ones at 1M files (more sys time, a
 * higher peak RSS) and made the other writer wait up to 2 s.
 *
 * `write` settles once the batch is committed when its transaction takes one batch (not grouping,
 * or another writer seen), else once it is written in its transaction, so that the walk goes on:
 * a commit that fails then fails the next `write` and `settle`. Settling at the apply with another
 * writer made a 1M first index slower than main (66 vs 57 s, sys +8 s), settling at the commit did
 * not (53 vs 55 s); alone, settling at the apply is what lets the next batch join.
 */
export class GroupedWrites {
  private readonly queue: Queued[] = [];
  /** Batches expected and not yet written or cancelled. */
  private coming = 0;
  private wake: (() => void) | undefined;
  private transaction: Promise<void> | undefined;
  private failure: { readonly error: unknown } | undefined;
  /** Transactions committed. */
  committed = 0;
  /** Transactions that took one batch because another writer had committed. */
  contended = 0;
  /** The head seq after this process's last commit. */
  private ownHead: number | undefined;
  /**
   * The head seq when this run began to write, for its first transaction: another writer that
   * commits before this run's first commit is seen as well (undefined when it could not be read).
   */
  private readonly startHead: Promise<number | undefined> | undefined;
  private readonly ownCommits: Subscription;

  constructor(
    private readonly library: Library,
    private readonly limits: GroupLimits,
  ) {
    this.ownCommits = library.commits$.subscribe((head) => (this.ownHead = head));
    this.startHead = limits.rows > 0 ? library.headSeq().catch(() => undefined) : undefined;
  }

  /** Stops following this process's commits. */
  close(): void {
    this.ownCommits.unsubscribe();
  }

  /** A batch is on its way: an open transaction may wait for it rather than commit. */
  expect(): void {
    this.coming++;
  }

  /** An expected batch has nothing to write. */
  cancel(): void {
    this.coming--;
    this.wake?.();
  }

  /**
   * Writes an expected batch after the ones before it. `onCommit` is called once the transaction
   * that holds the batch has committed: from then on, the library's reads (committed data only)
   * show the batch, which a grouped batch's settling does not promise.
   */
  write(rows: number, apply: (tx: WriteTransaction) => Promise<void>, onCommit?: () => void): Promise<void> {
    this.coming--;
    if (this.failure) return Promise.reject(this.failure.error);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ rows, apply, resolve, reject, onCommit });
      if (this.wake) this.wake();
      else if (!this.transaction) this.begin();
    });
  }

  /** Waits for the last transaction to commit; rejects if one failed. */
  async settle(): Promise<void> {
    while (this.transaction) await this.transaction;
    if (this.failure) throw this.failure.error;
  }

  private begin(): void {
    /** The batch of a one-batch transaction: settled at the commit, as every batch was. */
    const last: Queued[] = [];
    /**
     * The onCommit of every batch the transaction applied: only those, since holding the batches
     * themselves until the commit kept a grouped transaction's batches alive (+20 MB peak RSS at
     * 200,000 files, a first index).
     */
    const onCommits: (() => void)[] = [];
    this.transaction = this.transact(last, onCommits).then(
      () => {
        this.committed++;
        this.transaction = undefined;
        for (const onCommit of onCommits) onCommit();
        for (const item of last) item.resolve();
        if (this.queue.length > 0) this.begin();
      },
      (error: unknown) => {
        this.failure = { error };
        this.transaction = undefined;
        for (const item of [...last, ...this.queue.splice(0)]) item.reject(error);
      },
    );
  }

  /** Whether no other process has committed since this one last did (read, not locked: a hint). */
  private async alone(): Promise<boolean> {
    if (this.limits.rows <= 0) return true;
    const since = this.ownHead ?? (await this.startHead);
    return since !== undefined && (await this.library.headSeq()) === since;
  }

  private async transact(last: Queued[], onCommits: (() => void)[]): Promise<void> {
    const limit = (await this.alone()) ? this.limits.rows : 0;
    if (limit < this.limits.rows) this.contended++;
    const started = performance.now();
    await this.library.write(async (tx) => {
      let rows = 0;
      for (;;) {
        const item = this.queue.shift();
        if (!item) return;
        try {
          await item.apply(tx);
        } catch (error) {
          item.reject(error);
          throw error;
        }
        if (item.onCommit) onCommits.push(item.onCommit);
        if (limit === 0) {
          last.push(item);
          return;
        }
        // Settled now, so that the walk goes on and sends the next batch.
        item.resolve();
        rows += item.rows;
        const left = this.limits.holdMs - (performance.now() - started);
        if (rows >= limit || left <= 0) return;
        if (this.queue.length === 0 && this.coming > 0) await this.nextBatch(left);
      }
    });
  }

  /** Until the next batch is queued, none is expected any more, or `ms` passed. */
  private nextBatch(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = () => {
        if (this.queue.length > 0 || this.coming <= 0) done();
      };
    });
  }
}
