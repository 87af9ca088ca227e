import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sqliteCliVersion } from '../src/bench/floor';

const BENCH = path.join(__dirname, '..', 'dist', 'bench', 'main.js');
const FILES = 300;
const DIRECTORIES = 10;
const CHANGES = 7;

interface Run {
  readonly summary: { readonly [field: string]: number };
}

/** Runs `npm run bench -- --index` small, with its tree cache and work dir in `tmp`. */
function runBench(tmp: string, extra: readonly string[] = []) {
  const out = path.join(tmp, 'index.json');
  const result = spawnSync(
    process.execPath,
    [
      BENCH,
      '--index',
      ...['--files', String(FILES), '--dirs', String(DIRECTORIES), '--small-files', '0'],
      ...['--changes', String(CHANGES), '--real', '', '--out', out, ...extra],
    ],
    { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp }, timeout: 120_000 },
  );
  return { ...result, out };
}

let tmp: string;
beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'index-bench-'))));
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the index bench measures a first index, an unchanged re-index and one of N changed files', () => {
  const bench = runBench(tmp);
  expect(bench.stderr).not.toMatch(/Error/);
  expect(bench.status).toBe(0);
  const { results, targets } = JSON.parse(fs.readFileSync(bench.out, 'utf8')) as {
    results: {
      large: {
        objects: number;
        first: Run;
        unchanged: Run;
        changed: Run & { files: number };
        floorWrite: {
          available: boolean;
          rows: number;
          batches: number;
          transactions: number;
          seconds: number;
        };
      };
    };
    targets: { readonly [name: string]: boolean | null };
  };
  const { objects, first, unchanged, changed, floorWrite } = results.large;
  // The tree's files and directories, each one object of the walk.
  expect(objects).toBeGreaterThan(FILES);
  expect(first.summary).toMatchObject({ added: objects, hashed: FILES });
  expect(unchanged.summary).toMatchObject({ unchanged: objects, hashed: 0 });
  expect(changed.files).toBe(CHANGES);
  expect(changed.summary).toMatchObject({ updated: CHANGES, hashed: CHANGES, unchanged: objects - CHANGES });
  expect(Object.keys(targets).sort()).toEqual([
    'changedBelow2xUnchanged',
    'firstIndexAtMost3xFloor',
    'peakRssBelow200MB',
    'peakRssWithin20PercentOfSmall',
    'unchangedAtMost4xWalkStatFloor',
  ]);
  expect(bench.stdout).toContain('re-index, 7 changed');
  // The write floor writes again what the first index wrote: an entry and a file id per object,
  // a content identity per file (each generated file's content is its own).
  expect(floorWrite.available).toBe(sqliteCliVersion() !== undefined);
  if (floorWrite.available) {
    expect(floorWrite).toMatchObject({ rows: 2 * objects + FILES, batches: 1, transactions: 1 });
    expect(floorWrite.seconds).toBeGreaterThan(0);
    expect(bench.stdout).toMatch(/the floor with its writes/);
  } else {
    expect(bench.stdout).toContain('not measured (no sqlite3 shell)');
  }
});

/**
 * The CLI measured here touches every file before it indexes: an indexer that took unchanged
 * files for changed would do the same work. The bench must refuse to time its "re-index,
 * nothing changed" rather than report a figure for work it did not measure.
 */
test('the index bench refuses a re-index of an unchanged tree that hashed files again', () => {
  const cli = path.join(__dirname, '..', 'bin', 'tidemark.js');
  const touching = path.join(tmp, 'touching-tidemark.js');
  fs.writeFileSync(
    touching,
    `const fs = require('node:fs');
const path = require('node:path');
const args = process.argv.slice(2);
if (args[0] === 'index') {
  const tree = args[args.length - 2];
  const now = new Date(Date.now() + 5000 * Math.random());
  for (const entry of fs.readdirSync(tree, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) fs.utimesSync(path.join(entry.parentPath ?? entry.path, entry.name), now, now);
  }
}
require(${JSON.stringify(cli)});
`,
  );
  const bench = runBench(tmp, ['--tidemark-bin', touching]);
  expect(bench.status).toBe(1);
  expect(bench.stderr).toContain(`re-index, nothing changed: unchanged`);
  expect(bench.stderr).toContain(`hashed ${FILES} (expected 0)`);
});
