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
