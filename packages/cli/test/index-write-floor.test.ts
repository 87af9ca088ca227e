/**
 * The bench's write floor (src/bench/index-write-floor.ts) writes again what a first index wrote,
 * batch by batch as the index wrote it: checked here on an index of small batches, where a row
 * staged in the wrong batch, or a floor that lost rows, shows.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sqliteCliVersion } from '../src/bench/floor';
import { measureIndexWriteFloor, stageIndexRows } from '../src/bench/index-write-floor';
import { removeTempDirs, runCliJson, tempDir } from './harness';

afterAll(removeTempDirs);

const BATCH = 7;
const query = (file: string, sql: string) => {
  const run = spawnSync('sqlite3', [file, sql], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`sqlite3 ${sql}: ${run.stderr}`);
  return run.stdout.trim();
};

/** A library indexed in batches of BATCH entries, in a directory whose path has a quote in it. */
async function indexedLibrary(): Promise<{ libraryFile: string; workDir: string; transactions: number }> {
  const dir = tempDir("tidemark-write-floor-'");
  const tree = path.join(dir, 'tree');
  for (let d = 0; d < 5; d++) {
    fs.mkdirSync(path.join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < 10; f++) fs.writeFileSync(path.join(tree, `d${d}`, `f${f}`), `file ${d} ${f}\n`);
  }
  const library = path.join(dir, 'library');
  await runCliJson(['init', '--library', library]);
  const summary = await runCliJson<{ transactions: number }>([
    'index',
    '--library',
    library,
    tree,
    '--batch-size',
    String(BATCH),
  ]);
  const workDir = path.join(dir, 'work');
  fs.mkdirSync(workDir);
  return { libraryFile: path.join(library, 'library.db'), workDir, transactions: summary.transactions };
}

const hasShell = sqliteCliVersion() !== undefined;
const withShell = hasShell ? test : test.skip;
if (!hasShell) console.warn('no sqlite3 shell: the write floor tests are skipped');

withShell(
  "each staged row is in its batch: entries BATCH at a time in seq order, a content identity in its first entry's batch, a file id in its entry's",
  async () => {
    const { libraryFile, workDir } = await indexedLibrary();
    const stage = path.join(workDir, 'stage.db');
    stageIndexRows(libraryFile, stage, BATCH);
    // 50 files and 5 directories: 55 entries, 8 batches of at most 7.
    expect(
      query(stage, 'SELECT group_concat(n) FROM (SELECT count(*) AS n FROM e GROUP BY batch ORDER BY batch)'),
    ).toBe('7,7,7,7,7,7,7,6');
    expect(
      query(stage, 'SELECT count(*) FROM e AS a JOIN e AS b ON b.seq > a.seq WHERE b.batch < a.batch'),
    ).toBe('0');
    expect(
      query(
        stage,
        'SELECT count(*) FROM c WHERE batch IS NOT (SELECT e.batch FROM e WHERE e.content_uuid = c.uuid ORDER BY e.seq LIMIT 1)',
      ),
    ).toBe('0');
    expect(
      query(stage, 'SELECT count(*) FROM f JOIN e ON e.uuid = f.entry_uuid WHERE f.batch <> e.batch'),
    ).toBe('0');
    expect(query(stage, 'SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM f)')).toBe('50|55');
  },
);

withShell(
  'the floor writes every row the index wrote, in the transactions asked for, and leaves no file',
  async () => {
    const { libraryFile, workDir } = await indexedLibrary();
    const floor = measureIndexWriteFloor(libraryFile, workDir, {
      transactions: 3,
      writerCacheKib: 4096,
      batchRows: BATCH,
    });
    expect(floor).toMatchObject({ available: true, rows: 55 + 50 + 55, batches: 8, transactions: 3 });
    expect(floor.seconds).toBeGreaterThan(0);
    expect(fs.readdirSync(workDir)).toEqual([]);
  },
);
