import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeTempDirs, tempDir } from '../test/fixtures';
import { CommitWatch, HeadReads, RECHECK_AFTER_MS } from './commit-watch';
import { TidemarkError } from './errors';

afterAll(removeTempDirs);
afterEach(() => jest.useRealTimers());

/** A head read that the test answers, one call at a time. */
class HeldReads {
  calls = 0;
  private pending: ((head: number) => void)[] = [];
  readonly read = () => {
    this.calls += 1;
    return new Promise<number>((resolve) => this.pending.push(resolve));
  };
  answer(head: number): void {
    const next = this.pending.shift();
    if (!next) throw new Error('no read is waiting');
    next(head);
  }
  get waiting(): number {
    return this.pending.length;
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test('wake-ups that arrive while the head is read cause exactly one more read, whatever their number', async () => {
  const reads = new HeldReads();
  const found: number[] = [];
  const heads = new HeadReads(reads.read, (head) => void found.push(head));
  void heads.look();
  for (let i = 0; i < 20; i++) void heads.look();
  expect(reads.calls).toBe(1);
  reads.answer(5);
  await flush();
  expect(reads.calls).toBe(2);
  reads.answer(7);
  await flush();
  expect(reads.calls).toBe(2);
  expect(found).toEqual([5, 7]);
  heads.stop();
});

test('a notification whose read still sees the old head (the commit not yet published) is followed by re-reads that find the commit', async () => {
  jest.useFakeTimers();
  let published = 5;
  let calls = 0;
  const found: number[] = [];
  const heads = new HeadReads(
    async () => {
      calls += 1;
      return published;
    },
    (head) => void found.push(head),
  );
  heads.notified();
  await jest.advanceTimersByTimeAsync(0);
  expect(found).toEqual([5]);
  // SQLite publishes the commit in its shared-memory index after the WAL write was reported.
  published = 6;
  await jest.advanceTimersByTimeAsync(RECHECK_AFTER_MS[0]);
  expect(found).toEqual([5, 6]);
  // The re-reads end after the last delay: nothing more until the next wake-up.
  await jest.advanceTimersByTimeAsync(RECHECK_AFTER_MS.reduce((sum, ms) => sum + ms, 0) * 10);
  expect(calls).toBe(1 + RECHECK_AFTER_MS.length);
  heads.stop();
});

test('a steady stream of notifications costs no re-reads until it stops', async () => {
  jest.useFakeTimers();
  let calls = 0;
  const heads = new HeadReads(
    async () => ++calls,
    () => undefined,
  );
  for (let i = 0; i < 50; i++) {
    heads.notified();
    await jest.advanceTimersByTimeAsync(1); // shorter than the first recheck delay
  }
  expect(calls).toBe(50);
  await jest.advanceTimersByTimeAsync(10_000);
  expect(calls).toBe(50 + RECHECK_AFTER_MS.length);
  heads.stop();
});

describe('CommitWatch', () => {
  test('headsOf$ wakes only the types whose own head moved, and a commit of this process does not hide another process’s commit of another type', async () => {
    jest.useFakeTimers();
    let head = 5;
    let typeHeads = new Map([
      ['tag', 3],
      ['entry', 5],
    ]);
    let typeReads = 0;
    const watch = new CommitWatch({
      file: path.join(tempDir(), 'library.db'),
      readHead: async () => head,
      readTypeHeads: async () => {
        typeReads += 1;
        return typeHeads;
      },
      fallbackPollMs: 1_000,
      notifications: false,
    });
    const woken: [string, number][] = [];
    const subscriptions = ['tag', 'entry'].map((type) =>
      watch.headsOf$(type).subscribe((at) => woken.push([type, at])),
    );
    const poll = async (): Promise<[string, number][]> => {
      await jest.advanceTimersByTimeAsync(1_000);
      return woken.splice(0);
    };
    try {
      // The first read knows nothing of either type yet.
      await jest.advanceTimersByTimeAsync(0);
      expect(woken.splice(0)).toEqual([
        ['tag', 3],
        ['entry', 5],
      ]);
      // Another process commits entries: the tag streams sleep on.
      head = 6;
      typeHeads = new Map([
        ['tag', 3],
        ['entry', 6],
      ]);
      expect(await poll()).toEqual([['entry', 6]]);
      // Nothing moved: no read of the type heads at all.
      const before = typeReads;
      expect(await poll()).toEqual([]);
      expect(typeReads).toBe(before);
      // This process commits tags at 7 (its own streams were told) and another process entries at 8.
      watch.saw(7, ['tag']);
      head = 8;
      typeHeads = new Map([
        ['tag', 7],
        ['entry', 8],
      ]);
      expect(await poll()).toEqual([['entry', 8]]);
      // Another process commits a tag at 9, then this process entries at 10 before the watch
      // looks: the tag must still wake, though the library head it reads is one this process made.
      head = 10;
      typeHeads = new Map([
        ['tag', 9],
        ['entry', 10],
      ]);
      watch.saw(10, ['entry']);
      expect(await poll()).toEqual([['tag', 9]]);
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });

  test('an idle library, while followed, reads only at the fallback poll; unfollowed, not at all', async () => {
    jest.useFakeTimers();
    const dir = tempDir();
    let calls = 0;
    const watch = new CommitWatch({
      file: path.join(dir, 'library.db'),
      readHead: async () => {
        calls += 1;
        return 1;
      },
      fallbackPollMs: 2_000,
      notifications: true,
      readTypeHeads: async () => new Map(),
    });
    await jest.advanceTimersByTimeAsync(60_000);
    expect(calls).toBe(0);
    const subscription = watch.heads$.subscribe();
    try {
      await jest.advanceTimersByTimeAsync(60_000);
      expect(calls).toBe(1 + 30); // the read at subscription, then one per 2 s
    } finally {
      subscription.unsubscribe();
    }
    await jest.advanceTimersByTimeAsync(60_000);
    expect(calls).toBe(31);
  });

  test('a write to the WAL wakes a read at once; a commit this process reported itself is not emitted again', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'library.db');
    fs.writeFileSync(`${file}-wal`, '');
    let head = 3;
    let calls = 0;
    const watch = new CommitWatch({
      file,
      readHead: async () => {
        calls += 1;
        return head;
      },
      fallbackPollMs: 3_600_000,
      notifications: true,
      readTypeHeads: async () => new Map(),
    });
    const heads: number[] = [];
    const subscription = watch.heads$.subscribe((h) => heads.push(h));
    try {
      await waitUntil(() => heads.length === 1);
      // This process committed seq 4 itself and told the watch: the read its WAL write wakes
      // finds nothing new to report.
      watch.saw(4);
      head = 4;
      const before = calls;
      fs.appendFileSync(`${file}-wal`, 'frame');
      await waitUntil(() => calls > before);
      head = 5; // another process
      fs.appendFileSync(`${file}-wal`, 'frame');
      await waitUntil(() => heads.length === 2);
      expect(heads).toEqual([3, 5]);
    } finally {
      subscription.unsubscribe();
    }
  });

  test('a directory that cannot be watched is reported once, and the fallback poll still finds commits', async () => {
    jest.useFakeTimers();
    const errors: TidemarkError[] = [];
    let head = 1;
    const watch = new CommitWatch({
      file: path.join(tempDir(), 'missing', 'library.db'),
      readHead: async () => head,
      fallbackPollMs: 1_000,
      notifications: true,
      readTypeHeads: async () => new Map(),
      onWatchError: (error) => errors.push(error),
    });
    const heads: number[] = [];
    const subscription = watch.heads$.subscribe((h) => heads.push(h));
    try {
      await jest.advanceTimersByTimeAsync(0);
      head = 2;
      await jest.advanceTimersByTimeAsync(5_000); // each tick tries to watch again
    } finally {
      subscription.unsubscribe();
    }
    expect(heads).toEqual([1, 2]);
    expect(errors).toHaveLength(1);
    expect(errors[0].code).toBe('STORAGE');
    expect(errors[0].message).toMatch(/seen within 1000 ms instead/);
  });
});

async function waitUntil(condition: () => boolean, deadlineMs = 30_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
