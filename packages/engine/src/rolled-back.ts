import { randomUUID } from 'node:crypto';
import { commitAt } from './commits';
import { LibraryDatabase, SqlRunner } from './store/library-database';
import { HistoryMark, readHistoryMark, writeHistoryMark } from './store/history-mark';

/** The mark of where this database's history stands now. */
export async function currentHistoryMark(sql: SqlRunner, epoch: string): Promise<HistoryMark> {
  const [row] = await sql.query<{ last_seq: number }>('SELECT last_seq FROM library_identity WHERE id = 1');
  return { epoch, seq: row.last_seq, commitId: (await commitAt(sql, row.last_seq)) ?? '' };
}

/**
 * A database copied back from a backup in place keeps its inode, so its file identity cannot
 * tell; its history mark can. When the database does not reach the seq the mark names, or names
 * it with another commit, it was rolled back, and the seqs above the backup would be handed out
 * again for new writes: take a new epoch before any, so peers restart it from 0 and no origin
 * prefix of the old history covers them. Returns the epoch to use, and writes the mark anew.
 */
export async function checkHistoryMark(db: LibraryDatabase, file: string, epoch: string): Promise<string> {
  const mark = readHistoryMark(file);
  let next = epoch;
  if (mark && mark.epoch === epoch && mark.seq > 0) {
    const reached = (await commitAt(db.read, mark.seq)) === mark.commitId;
    if (!reached) {
      next = randomUUID();
      await db.writeTransaction((sql) =>
        sql.query('UPDATE library_identity SET epoch = ? WHERE id = 1', [next]),
      );
    }
  }
  writeHistoryMark(file, await currentHistoryMark(db.read, next));
  return next;
}
