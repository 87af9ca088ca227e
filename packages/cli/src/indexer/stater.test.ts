import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Stater } from './walk';

/** What each path's lstat is, as a comparable value: its inode and size, or its error code. */
const shown = (results: readonly (fs.Stats | Error)[]) =>
  results.map((r) => (r instanceof fs.Stats ? `${r.ino}:${r.size}` : (r as NodeJS.ErrnoException).code));

test('stats are the same, errors in place, whether taken on the main thread, on the pool, or switched part-way', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-stater-'));
  try {
    const paths: string[] = [];
    for (let i = 0; i < 150; i++) {
      const file = path.join(dir, `f${i}`);
      if (i % 7 !== 3) fs.writeFileSync(file, 'x'.repeat(i));
      paths.push(file); // every seventh is missing: ENOENT in its place
    }
    const expected = paths.map((p) => {
      try {
        const stats = fs.lstatSync(p);
        return `${stats.ino}:${stats.size}`;
      } catch (error) {
        return (error as NodeJS.ErrnoException).code;
      }
    });
    // Never slow: all on the main thread.
    expect(shown(await new Stater(Infinity).lstatAll(paths))).toEqual(expected);
    // Every stat "slow": the first three on the main thread, the rest of the listing on the pool, and
    // the next listings on the pool too.
    const switching = new Stater(-1);
    expect(shown(await switching.lstatAll(paths))).toEqual(expected);
    expect(shown(await switching.lstatAll(paths.slice(5)))).toEqual(expected.slice(5));
    expect(shown(await switching.lstatAll([]))).toEqual([]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
