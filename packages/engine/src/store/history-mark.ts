import * as fs from 'node:fs';

/**
 * Where this library's history stood when it was last seen by a process that wrote it: the
 * epoch, the highest committed seq and the commit id that issued it. Kept in a small file BESIDE
 * the database (`library.db.history`), so that a backup copied over the database in place, which
 * keeps the file's inode, leaves it behind: on open, a database whose history does not reach
 * the mark, or reaches it through another commit, was rolled back (docs/architecture.md,
 * "Restored libraries").
 */
export interface HistoryMark {
  readonly epoch: string;
  readonly seq: number;
  readonly commitId: string;
}

export function historyMarkFile(databaseFile: string): string {
  return `${databaseFile}.history`;
}

/** The mark beside `databaseFile`, or undefined when there is none or it is unreadable. */
export function readHistoryMark(databaseFile: string): HistoryMark | undefined {
  let text: string;
  try {
    text = fs.readFileSync(historyMarkFile(databaseFile), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const mark = JSON.parse(text) as Partial<HistoryMark>;
    if (
      typeof mark.epoch === 'string' &&
      Number.isSafeInteger(mark.seq) &&
      typeof mark.commitId === 'string'
    ) {
      return { epoch: mark.epoch, seq: mark.seq!, commitId: mark.commitId };
    }
  } catch {
    // A torn or foreign file proves nothing either way.
  }
  return undefined;
}

/**
 * Replaces the mark atomically (write aside, rename), so a reader never sees half of one. Not
 * fsynced: a mark lost in a power cut is an older mark, which is still true of the database.
 */
export function writeHistoryMark(databaseFile: string, mark: HistoryMark): void {
  const target = historyMarkFile(databaseFile);
  const aside = `${target}.${process.pid}.tmp`;
  fs.writeFileSync(aside, JSON.stringify(mark) + '\n', { mode: 0o600 });
  fs.renameSync(aside, target);
}
