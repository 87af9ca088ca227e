import * as fs from 'node:fs';

/** CPU seconds a process has used, split into its main (JavaScript) thread and all others. */
export interface ThreadCpu {
  readonly main: number;
  /** libuv's pool (SQLite statements run there), V8's GC helpers, grpc's and the inspector's. */
  readonly other: number;
}

/** /proc reports thread times in USER_HZ ticks, which Linux fixes at 100 per second. */
const TICKS_PER_SECOND = 100;

/**
 * Reads every thread's user + system time from /proc; undefined where there is no /proc (the
 * bench then leaves the row out). A thread that exited is no longer counted, so take the
 * difference of two readings only while the threads live, as the node processes' do.
 */
export function readThreadCpu(pid: number): ThreadCpu | undefined {
  const taskDir = `/proc/${pid}/task`;
  if (!fs.existsSync(taskDir)) return undefined;
  let main = 0;
  let other = 0;
  for (const tid of fs.readdirSync(taskDir)) {
    let stat: string;
    try {
      stat = fs.readFileSync(`${taskDir}/${tid}/stat`, 'utf8');
    } catch {
      continue; // exited since the listing
    }
    // Fields after the parenthesised name, which may itself hold spaces: utime and stime are
    // the 14th and 15th fields of the line, the 12th and 13th after the name.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    if (Number(tid) === pid) main += seconds;
    else other += seconds;
  }
  return { main, other };
}

/** CPU used between two readings; undefined if either is. */
export function cpuBetween(
  before: ThreadCpu | undefined,
  after: ThreadCpu | undefined,
): ThreadCpu | undefined {
  if (!before || !after) return undefined;
  return { main: after.main - before.main, other: Math.max(0, after.other - before.other) };
}
