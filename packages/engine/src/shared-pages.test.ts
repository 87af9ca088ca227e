/**
 * SharedReads on its own, with reads the test finishes by hand: who may join which read (the
 * head rule), that a failed read is not kept, and that what is kept stays within its bounds.
 */
import { SharedReads, sharedPageKey } from './shared-pages';

/** A read the test resolves or fails when it likes. */
function manualRead<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { load: () => promise, resolve, reject };
}

const size = () => 100;

test('a request joins a read started after the same or a later head, never one started before its head', async () => {
  const reads = new SharedReads<string>();
  const first = manualRead<string>();
  const a = reads.read('k', 5, first.load, size);
  const b = reads.read('k', 5, () => Promise.resolve('other'), size);
  const c = reads.read('k', 3, () => Promise.resolve('other'), size);
  // Knows of seq 6, which the read in flight may not see: a read of its own.
  const later = manualRead<string>();
  const d = reads.read('k', 6, later.load, size);
  first.resolve('at 5');
  later.resolve('at 6');
  expect(await Promise.all([a, b, c, d])).toEqual(['at 5', 'at 5', 'at 5', 'at 6']);
  expect(reads.readCounts).toEqual({ reads: 2, shared: 2 });
  // Kept: the newest read of the key serves what comes up to its head.
  expect(await reads.read('k', 6, () => Promise.resolve('new'), size)).toBe('at 6');
  expect(await reads.read('k', 7, () => Promise.resolve('at 7'), size)).toBe('at 7');
  expect(reads.readCounts).toEqual({ reads: 3, shared: 3 });
});

test('requests with other keys never share', async () => {
  const reads = new SharedReads<string>();
  const values = await Promise.all(
    ['a', 'b', 'c'].map((key) => reads.read(key, 1, () => Promise.resolve(key), size)),
  );
  expect(values).toEqual(['a', 'b', 'c']);
  expect(reads.readCounts.shared).toBe(0);
});

test('a failed read fails the requests that joined it and is not kept', async () => {
  const reads = new SharedReads<string>();
  const failing = manualRead<string>();
  const a = reads.read('k', 1, failing.load, size);
  const b = reads.read('k', 1, () => Promise.resolve('other'), size);
  const failure = new Error('the disk went away');
  failing.reject(failure);
  await expect(a).rejects.toBe(failure);
  await expect(b).rejects.toBe(failure);
  expect(await reads.read('k', 1, () => Promise.resolve('again'), size)).toBe('again');
});

test('what is kept stays within its count and bytes; a page too big is shared only in flight', async () => {
  const reads = new SharedReads<string>({ kept: 3, maxBytes: 250, maxKeptBytes: 150 });
  for (const key of ['a', 'b', 'c']) await reads.read(key, 1, () => Promise.resolve(key), size);
  // Three of 100 bytes exceed 250: the oldest went.
  const kept = async (key: string) => (await reads.read(key, 1, () => Promise.resolve('read'), size)) === key;
  expect(await kept('c')).toBe(true);
  expect(await kept('b')).toBe(true);
  expect(await kept('a')).toBe(false);
  const big = manualRead<string>();
  const first = reads.read('big', 1, big.load, () => 200);
  const joined = reads.read('big', 1, () => Promise.resolve('other'), size);
  big.resolve('big');
  expect(await Promise.all([first, joined])).toEqual(['big', 'big']);
  expect(await reads.read('big', 1, () => Promise.resolve('read again'), size)).toBe('read again');
});

test('page keys differ by type, epoch, cursor, batch size and every held lineage and seq, not by the order held lists them', () => {
  const key = (held: [number, number][], name = 'tag', epoch = 'e', after = 10, limit = 100) =>
    sharedPageKey(name, epoch, after, limit, new Map(held));
  const base = key([
    [1, 5],
    [2, 7],
  ]);
  expect(
    key([
      [2, 7],
      [1, 5],
    ]),
  ).toBe(base);
  const others = [
    key([[1, 5]]),
    key([
      [1, 5],
      [2, 8],
    ]),
    key(
      [
        [1, 5],
        [2, 7],
      ],
      'entry',
    ),
    key(
      [
        [1, 5],
        [2, 7],
      ],
      'tag',
      'f',
    ),
    key(
      [
        [1, 5],
        [2, 7],
      ],
      'tag',
      'e',
      11,
    ),
    key(
      [
        [1, 5],
        [2, 7],
      ],
      'tag',
      'e',
      10,
      99,
    ),
  ];
  expect(new Set([base, ...others]).size).toBe(others.length + 1);
});
