import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContentDigest } from './content-hash';
import { HashPool } from './hash-pool';

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
      Buffer.alloc(1024 * 1024 + 70_000, 7), // sampled, not hashed whole
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
    const expected = await onMain.hash(files);
    const threaded = await pool.hash(files);
    expect(pool.threadsStarted).toBe(true);
    // Errors by code: under jest, fs errors of the main thread come from another realm and are
    // wrapped (their message then starts "Error: "), while a thread's carry their code.
    const shape = (d: ContentDigest | Error) =>
      d instanceof Error
        ? { error: (d as NodeJS.ErrnoException).code ?? /\bE[A-Z]+\b/.exec(d.message)?.[0] ?? d.message }
        : { ...d };
    expect(threaded.map(shape)).toEqual(expected.map(shape));
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
