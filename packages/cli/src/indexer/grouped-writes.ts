import { Library, WriteTransaction } from '@tidemark/engine';

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
 * `write` settles once the batch is written in its transaction, not committed: a commit that fails
 * fails the next `write` and `settle`.
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

  constructor(
    private readonly library: Library,
    private readonly limits: GroupLimits,
  ) {}

  /** A batch is on its way: an open transaction may wait for it rather than commit. */
  expect(): void {
    this.coming++;
  }

  /** An expected batch has nothing to write. */
  cancel(): void {
    this.coming--;
    this.wake?.();
  }

  /** Writes an expected batch after the ones before it. */
  write(rows: number, apply: (tx: WriteTransaction) => Promise<void>): Promise<void> {
    this.coming--;
    if (this.failure) return Promise.reject(this.failure.error);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ rows, apply, resolve, reject });
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
    const started = performance.now();
    this.transaction = this.library
      .write(async (tx) => {
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
          item.resolve();
          rows += item.rows;
          const left = this.limits.holdMs - (performance.now() - started);
          if (rows >= this.limits.rows || left <= 0) return;
          if (this.queue.length === 0 && this.coming > 0) await this.nextBatch(left);
        }
      })
      .then(
        () => {
          this.committed++;
          this.transaction = undefined;
          if (this.queue.length > 0) this.begin();
        },
        (error: unknown) => {
          this.failure = { error };
          this.transaction = undefined;
          for (const item of this.queue.splice(0)) item.reject(error);
        },
      );
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
