import { commitAt, recordCommit } from '../commits';
import { Library } from '../library';
import { currentHistoryMark } from '../rolled-back';
import { writeHistoryMark } from '../store/history-mark';

/**
 * CPU seconds one piece of the restored-history check costs, measured on a scratch copy of a
 * library the bench just synced (its `commits` table at the size the run left it). The bench
 * multiplies these by the operations each node counted in the run (`commitIdCost()`); timers
 * around the operations in the run itself measure latency, not cost: a one-row lookup waits
 * behind the page reads on the same connection and for the event loop, 20 ms under load.
 *
 * CPU is the bench process's own (`process.cpuUsage()`: the main thread and node-sqlite3's
 * worker threads, user and system), so other processes on a shared machine do not inflate it.
 */
export interface CommitIdUnitCost {
  /**
   * A `commits` row: the INSERT and the page it dirties, written to the WAL at COMMIT and back to
   * the database by a checkpoint; write transactions with the row minus the same transactions
   * without it, each followed by a checkpoint (in a backfill one covers a couple of transactions,
   * so this counts a page write-back per row at least as often as it happens).
   */
  readonly record: number;
  /** The commit that issued a seq, as a checkpoint or a resuming cursor needs it. */
  readonly lookup: number;
  /** A resuming cursor's check: the head, then the commit at its seq. */
  readonly resume: number;
  /** The history mark read from the database and rewritten beside it. */
  readonly mark: number;
  readonly repetitions: number;
}

const cpuSeconds = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1e6;
};

async function cpuPer(repetitions: number, fn: (i: number) => Promise<void>): Promise<number> {
  const before = cpuSeconds();
  for (let i = 0; i < repetitions; i++) await fn(i);
  return (cpuSeconds() - before) / repetitions;
}

/** Measures on `file`, which it changes (a scratch copy). */
export async function measureCommitIdUnitCost(file: string, repetitions = 1000): Promise<CommitIdUnitCost> {
  const library = await Library.open(file);
  try {
    const db = library.db;
    let seq = await library.headSeq();
    const head = seq;
    // As ChangeSequence.commit writes the counter, with and without the commits row; blocks
    // alternate so that checkpoints and drift fall on both sides alike.
    const transaction = (withRow: boolean) => async () => {
      await db.writeTransaction(async (sql) => {
        seq += 1;
        await sql.query('UPDATE library_identity SET last_seq = ? WHERE id = 1', [seq]);
        if (withRow) await recordCommit(sql, seq);
      });
      await db.read.query('PRAGMA wal_checkpoint(PASSIVE)');
    };
    const block = 50;
    let withRow = 0;
    let without = 0;
    for (let done = 0; done < repetitions; done += block) {
      without += await cpuPer(block, transaction(false));
      withRow += await cpuPer(block, transaction(true));
    }
    const blocks = Math.ceil(repetitions / block);
    const record = Math.max(0, (withRow - without) / blocks);
    const seqAt = (i: number) => 1 + Math.floor(((i * 7919) % 1000) * (head / 1000));
    const lookup = await cpuPer(repetitions, async (i) => {
      await commitAt(db.read, seqAt(i));
    });
    const resume = await cpuPer(repetitions, async (i) => {
      await library.headSeq();
      await commitAt(db.read, seqAt(i));
    });
    const mark = await cpuPer(repetitions, async () => {
      writeHistoryMark(db.file, await currentHistoryMark(db.read, library.identity.epoch));
    });
    return { record, lookup, resume, mark, repetitions };
  } finally {
    await library.close();
  }
}
