import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as contentHash from './content-hash';
import { ContentDigest } from './content-hash';
import { digestLine, HashPool, resultsOf } from './hash-pool';
import { timestampTickMsOf } from './volume';

afterEach(() => jest.restoreAllMocks());

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

test('a run hashing a few files does it on the main thread; a bigger batch starts the threads; digests are the same either way', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-hash-pool-'));
  const pool = new HashPool(2);
  try {
    const files = Array.from({ length: 2_050 }, (_, i) => {
      const file = path.join(dir, `f${i}`);
      fs.writeFileSync(file, `file ${i}\n`);
      return file;
    });
    const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const hashes = (digests: (ContentDigest | Error)[]) =>
      digests.map((d) => (d instanceof Error ? d.message : d.hash));

    expect(hashes(await pool.hash(files.slice(0, 1_500)))).toEqual(files.slice(0, 1_500).map(sha));
    expect(pool.threadsStarted).toBe(false);
    // 1,500 + 550 is past the main thread's budget of 2,000: this batch goes to the threads.
    expect(hashes(await pool.hash(files.slice(1_500)))).toEqual(files.slice(1_500).map(sha));
    expect(pool.threadsStarted).toBe(true);
  } finally {
    await pool.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('digests from the threads equal those of the main thread, field for field, with each failure at its file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-hash-pool-'));
  const pool = new HashPool(2);
  try {
    const contents = [
      '',
      'plain text\n',
      '<!doctype html><p>x</p>',
      '<?xml version="1.0"?><a/>',
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2]),
      Buffer.from([0, 1, 2, 3, 255]),
      'é'.repeat(5_000),
      // Sampled, not hashed whole; bytes that differ from sample to sample, so that samples read
      // into the wrong place would give another digest.
      Buffer.from(Array.from({ length: 1024 * 1024 + 70_000 }, (_, i) => (i * 7 + (i >> 16)) % 251)),
    ];
    const files = Array.from({ length: 2_100 }, (_, i) => {
      const file = path.join(dir, `f${i}`);
      if (i % 97 === 5) return `${file}-missing`;
      if (i % 211 === 7) {
        fs.mkdirSync(file);
        return file;
      }
      fs.writeFileSync(file, i < 2_000 ? contents[i % contents.length] : `tail ${i}`);
      return file;
    });
    const onMain = new HashPool(0);
    const before = Date.now();
    const expected = await onMain.hash(files);
    const threaded = await pool.hash(files);
    const after = Date.now();
    expect(pool.threadsStarted).toBe(true);
    // Errors by code: under jest, fs errors of the main thread come from another realm and are
    // wrapped (their message then starts "Error: "), while a thread's carry their code.
    const shape = (d: ContentDigest | Error) =>
      d instanceof Error
        ? { error: (d as NodeJS.ErrnoException).code ?? /\bE[A-Z]+\b/.exec(d.message)?.[0] ?? d.message }
        : { ...d, readFromMs: d.readFromMs >= before && d.readFromMs <= after };
    expect(threaded.map(shape)).toEqual(expected.map(shape));
    expect(threaded.map(shape).filter((d) => 'readFromMs' in d && !d.readFromMs)).toEqual([]);
    expect(threaded.filter((d) => d instanceof Error)).toHaveLength(
      files.filter((_, i) => i % 97 === 5 || i % 211 === 7).length,
    );
    expect(new Set(threaded.map((d) => (d instanceof Error ? 'error' : d.mimeType)))).toEqual(
      new Set([
        'error',
        '',
        'text/plain',
        'text/html',
        'application/xml',
        'image/png',
        'application/octet-stream',
      ]),
    );
  } finally {
    await pool.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a thread's digest line gives back every field, an empty MIME type and the whole-second flag included", () => {
  const base = {
    hash: 'a'.repeat(64),
    sizeBytes: 12,
    modifiedAtMs: 1_700_000_000_000,
    readFromMs: 1_700_000_000_500,
  };
  const digests: ContentDigest[] = [
    { ...base, wholeSecondMtime: true, mimeType: 'text/plain' },
    { ...base, wholeSecondMtime: false, mimeType: '' },
  ];
  const response = {
    id: 0,
    digests: [digestLine(digests[0]), '', digestLine(digests[1])].join('\n'),
    failures: [{ index: 1, error: 'gone', code: 'ENOENT' }],
  };
  const [first, failed, last] = resultsOf(response);
  expect([first, last]).toEqual(digests);
  expect(failed).toMatchObject({ message: 'gone', code: 'ENOENT' });
});

describe("a file read within its file system's timestamp tick of its mtime", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-hash-racy-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Reads through the real hashContent; after the first read of `file`, `afterFirstRead` runs. */
  function spyReads(afterFirstRead: () => void): () => number {
    const real = contentHash.hashContent;
    let reads = 0;
    jest.spyOn(contentHash, 'hashContent').mockImplementation(async (file) => {
      const digest = await real(file);
      if (++reads === 1) afterFirstRead();
      return digest;
    });
    return () => reads;
  }

  test('is read again once the tick has passed: a write just after the first read that left size and mtime as they were is seen', async () => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'first\n');
    const mtime = new Date();
    fs.utimesSync(file, mtime, mtime);
    // A write within the same tick: the file system gives it the same mtime (set back here).
    const reads = spyReads(() => {
      fs.writeFileSync(file, 'other\n');
      fs.utimesSync(file, mtime, mtime);
    });
    const pool = new HashPool(0, 3_000);
    const [digest] = await pool.hash([file]);
    expect((digest as ContentDigest).hash).toBe(sha('other\n'));
    expect([reads(), pool.readAgain]).toEqual([2, 1]);
  });

  test('an mtime older than a tick, or further ahead than one, is read once', async () => {
    const [old, ahead] = [path.join(dir, 'old'), path.join(dir, 'ahead')];
    fs.writeFileSync(old, 'old\n');
    fs.writeFileSync(ahead, 'ahead\n');
    fs.utimesSync(old, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
    fs.utimesSync(ahead, new Date(Date.now() + 3_600_000), new Date(Date.now() + 3_600_000));
    const reads = spyReads(() => undefined);
    const pool = new HashPool(0, 3_000);
    const digests = (await pool.hash([old, ahead])) as ContentDigest[];
    expect(digests.map((d) => d.hash)).toEqual([sha('old\n'), sha('ahead\n')]);
    expect([reads(), pool.readAgain]).toEqual([2, 0]);
  });

  test("a whole-second mtime is given a coarse file system's tick, whatever the type says (ext4 with 128-byte inodes keeps seconds)", async () => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'first\n');
    // Between 0.1 and 1.1 s before the read: past a 20 ms tick, within a 2 s one.
    const second = new Date(Math.floor((Date.now() - 100) / 1000) * 1000);
    fs.utimesSync(file, second, second);
    // A write in the same second, which a file system that keeps seconds gives the same mtime.
    const reads = spyReads(() => {
      fs.writeFileSync(file, 'other\n');
      fs.utimesSync(file, second, second);
    });
    const pool = new HashPool(0, timestampTickMsOf('ext4'));
    const [digest] = await pool.hash([file]);
    expect((digest as ContentDigest).hash).toBe(sha('other\n'));
    expect([reads(), pool.readAgain]).toEqual([2, 1]);
  });

  test('on the hashing threads too (the way of any batch past the first 2,000 files), a whole-second mtime is read again', async () => {
    const files = Array.from({ length: 2_001 }, (_, i) => path.join(dir, `f${i}`));
    const old = (Date.now() - 60_000 + 0.5) / 1000;
    for (const file of files) {
      fs.writeFileSync(file, 'x');
      fs.utimesSync(file, old, old);
    }
    const second = new Date(Math.floor((Date.now() - 100) / 1000) * 1000);
    fs.utimesSync(files[0], second, second);
    const pool = new HashPool(1, timestampTickMsOf('ext4'));
    try {
      const digests = (await pool.hash(files)) as ContentDigest[];
      expect(pool.threadsStarted).toBe(true);
      expect(digests[0].wholeSecondMtime).toBe(true);
      expect(pool.readAgain).toBe(1);
    } finally {
      await pool.close();
    }
  });

  test('an mtime with a part below the second, as far from the read, keeps the fine tick: read once', async () => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'first\n');
    const at = Math.floor((Date.now() - 100) / 1000) * 1000 + 0.5;
    fs.utimesSync(file, at / 1000, at / 1000);
    if (fs.statSync(file).mtimeMs % 1000 === 0) {
      console.warn(`${dir} keeps whole seconds: nothing to compare here`);
      return;
    }
    const reads = spyReads(() => undefined);
    const pool = new HashPool(0, timestampTickMsOf('ext4'));
    const [digest] = await pool.hash([file]);
    expect((digest as ContentDigest).wholeSecondMtime).toBe(false);
    expect([reads(), pool.readAgain]).toEqual([1, 0]);
  });

  test("the tick is that of the file system: 20 ms where mtimes are kept to the nanosecond, FAT's 2 s and the clock's lag elsewhere", () => {
    expect(['ext4', 'xfs', 'btrfs', 'tmpfs', 'ntfs3'].map(timestampTickMsOf)).toEqual([20, 20, 20, 20, 20]);
    expect(['vfat', 'exfat', 'nfs', 'cifs', 'fuse.sshfs', 'unknown'].map(timestampTickMsOf)).toEqual([
      2_010, 2_010, 2_010, 2_010, 2_010, 2_010,
    ]);
  });
});
