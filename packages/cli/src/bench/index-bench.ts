/**
 * `npm run bench -- --index`: `tidemark index` as a user runs it (a child process), on a
 * generated tree and on a real one, each figure next to a floor measured in the same run on the
 * same files: `find -printf` for walk-and-stat, and `sha256sum` over every file up to 1 MiB on
 * every core for hashing. Peak RSS is the child's own ru_maxrss. A table on stdout and every
 * figure in bench/results/index-latest.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { INDEX_WRITER_CACHE_KIB } from '../commands/index-command';
import { formatTable } from '../output';
import { fileContent, GeneratedTree, prepareTree, treeFilePath } from './index-tree';
import { IndexWriteFloor, measureIndexWriteFloor } from './index-write-floor';
import { TIDEMARK_BIN } from './node-process';

export interface IndexBenchOptions {
  readonly files: number;
  readonly directories: number;
  /** Files of the small generated tree whose peak RSS the large one is compared with. */
  readonly smallFiles: number;
  readonly changes: number;
  /** A real tree ('' to skip). */
  readonly realTree: string;
  /** The CLI measured: this build by default, another checkout's bin/tidemark.js to compare. */
  readonly tidemarkBin: string;
  readonly out: string;
}

const HELP = `usage: npm run bench -- --index [options]
  --files N          files in the generated tree (default 1000000)
  --dirs N           directories in the generated tree (default 20000)
  --small-files N    files in the small tree peak RSS is compared with (default 50000; 0 skips)
  --changes N        files rewritten for the changed-files re-index (default 1000)
  --real DIR         a real tree to index as well (default /usr/share; '' skips)
  --tidemark-bin F   the CLI to measure (default this build; e.g. another checkout's bin/tidemark.js)
  --out FILE         JSON results (default bench/results/index-latest.json)
Generated trees are cached under ${path.join(os.tmpdir(), 'tidemark-bench-trees')}.`;

export function parseIndexBenchArgs(argv: readonly string[]): IndexBenchOptions | undefined {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP + '\n');
    return undefined;
  }
  const raw = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    return at < 0 ? undefined : argv[at + 1];
  };
  const int = (flag: string, fallback: number, min = 1): number => {
    const text = raw(flag);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < min)
      throw new Error(`${flag} needs an integer >= ${min}, got "${text}"`);
    return value;
  };
  return {
    files: int('--files', 1_000_000),
    directories: int('--dirs', 20_000),
    smallFiles: int('--small-files', 50_000, 0),
    changes: int('--changes', 1_000, 0),
    realTree: raw('--real') ?? '/usr/share',
    tidemarkBin: path.resolve(raw('--tidemark-bin') ?? TIDEMARK_BIN),
    out: raw('--out') ?? 'bench/results/index-latest.json',
  };
}

interface Measured {
  readonly wallSeconds: number;
}

interface IndexRun extends Measured {
  /** The indexer's own figure (from its summary): the wall time less node's start-up. */
  readonly seconds: number;
  readonly peakRssBytes: number;
  readonly summary: { readonly [key: string]: unknown };
}

interface TreeResult {
  readonly tree: string;
  readonly objects: number;
  readonly floorWalkStat: Measured;
  readonly floorHash: Measured & { readonly files: number; readonly processes: number };
  /** The first index's rows written by SQLite alone (index-write-floor.ts): not part of the target's floor. */
  readonly floorWrite: IndexWriteFloor;
  readonly first: IndexRun;
  readonly unchanged: IndexRun;
  readonly changed?: IndexRun & { readonly files: number };
}

const MB = 1024 * 1024;
const log = (text: string) => process.stderr.write(`bench: ${text}\n`);

function timed(fn: () => void): Measured {
  const started = performance.now();
  fn();
  return { wallSeconds: (performance.now() - started) / 1000 };
}

function sh(script: string): void {
  const result = spawnSync('bash', ['-c', script], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) throw new Error(`floor command failed (${result.status}): ${script}`);
}

const quoted = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;

/** Walk and stat every object, printing what the indexer compares (size, mtime, inode). */
function floorWalkStat(root: string): Measured & { objects: number } {
  let objects = 0;
  const measured = timed(() => {
    const result = spawnSync(
      'bash',
      ['-c', `find ${quoted(root)} -mindepth 1 -printf '%s %T@ %i\\n' | wc -l`],
      {
        encoding: 'utf8',
      },
    );
    objects = Number(result.stdout.trim());
  });
  return { ...measured, objects };
}

/** sha256 of every regular file up to 1 MiB (what the indexer hashes whole), one process per core. */
function floorHash(root: string): Measured & { files: number; processes: number } {
  const processes = os.availableParallelism();
  const counted = spawnSync('bash', ['-c', `find ${quoted(root)} -type f -size -1025k | wc -l`], {
    encoding: 'utf8',
  });
  const measured = timed(() =>
    sh(
      `find ${quoted(root)} -type f -size -1025k -print0 | xargs -0 -r -P ${processes} -n 512 sha256sum > /dev/null`,
    ),
  );
  return { ...measured, files: Number(counted.stdout.trim()), processes };
}

function runTidemark(bin: string, args: readonly string[], workDir: string): Promise<IndexRun> {
  const rssFile = path.join(workDir, `rss-${process.hrtime.bigint()}`);
  const preload = path.join(__dirname, 'report-max-rss.js');
  const started = performance.now();
  const child = spawn(process.execPath, ['--require', preload, bin, ...args], {
    env: { ...process.env, TIDEMARK_BENCH_MAX_RSS_FILE: rssFile },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      const wallSeconds = (performance.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`tidemark ${args.join(' ')} exited with ${code}`));
      try {
        const summary = JSON.parse(stdout) as { [key: string]: unknown };
        const peakRssBytes = Number(fs.readFileSync(rssFile, 'utf8'));
        resolve({ wallSeconds, seconds: Number(summary.seconds), peakRssBytes, summary });
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

async function indexOnce(bin: string, library: string, tree: string, workDir: string): Promise<IndexRun> {
  return runTidemark(bin, ['index', '--library', library, tree, '--json'], workDir);
}

/**
 * Refuses a run of the generated tree whose summary shows it did other work than its figure
 * stands for: a "re-index, nothing changed" that hashed files again, or a "1,000 changed" run
 * that found none, would still give a time and a ratio, and a wrong one.
 */
export function checkRun(
  what: string,
  run: Pick<IndexRun, 'summary'>,
  expected: { readonly [field: string]: number },
): void {
  const wrong = Object.entries(expected).filter(([field, value]) => run.summary[field] !== value);
  if (wrong.length === 0) return;
  const found = wrong.map(([field, value]) => `${field} ${String(run.summary[field])} (expected ${value})`);
  throw new Error(`${what}: ${found.join(', ')}; its figure would not measure what it is named for`);
}

/** Rewrites `count` files spread over the tree with new content (so new sizes or bytes, new mtimes). */
function changeFiles(tree: GeneratedTree, count: number): number {
  const salt = ` changed ${Date.now()}`;
  for (let k = 0; k < count; k++) {
    const i = Math.floor((k * tree.files) / count);
    fs.writeFileSync(path.join(tree.root, treeFilePath(i, tree.directories)), fileContent(i, salt));
  }
  return count;
}

async function measureTree(
  options: IndexBenchOptions,
  root: string,
  workDir: string,
  label: string,
  generated: GeneratedTree | undefined,
): Promise<TreeResult> {
  const library = path.join(workDir, `library-${label}`);
  const init = spawnSync(process.execPath, [options.tidemarkBin, 'init', '--library', library]);
  if (init.status !== 0) throw new Error(`tidemark init failed: ${String(init.stderr)}`);
  log(`${label}: floors (find -printf; sha256sum of files <= 1 MiB)`);
  // Warm the page cache first, so neither the floor nor the indexer pays for cold reads alone:
  // the listings and inodes, and the files' bytes too. Hashed once, a 1M-file tree whose pages had
  // been evicted by the runs before gave a hash floor of 38 s against 9-13 s warm, and so a first
  // index of 2.3x the floor instead of 5.5x.
  floorWalkStat(root);
  const walkStat = floorWalkStat(root);
  const [once, again] = [floorHash(root), floorHash(root)];
  const hash = again.wallSeconds <= once.wallSeconds ? again : once;
  log(`${label}: first index`);
  const first = await indexOnce(options.tidemarkBin, library, root, workDir);
  const objects = walkStat.objects;
  // Only the generated tree is known object by object; a real one may hold unreadable files.
  if (generated) {
    const files = generated.files;
    checkRun(`${label}: first index`, first, { added: objects, hashed: files, unreadable: 0 });
  }
  log(`${label}: write floor (the first index's rows written again by sqlite3 alone)`);
  const floorWrite = measureIndexWriteFloor(path.join(library, 'library.db'), workDir, {
    transactions: Number(first.summary.transactions),
    writerCacheKib: INDEX_WRITER_CACHE_KIB,
  });
  if (!floorWrite.available) log(floorWrite.message ?? 'no write floor');
  log(`${label}: re-index, nothing changed`);
  const unchanged = await indexOnce(options.tidemarkBin, library, root, workDir);
  if (generated) {
    checkRun(`${label}: re-index, nothing changed`, unchanged, { unchanged: objects, hashed: 0, deleted: 0 });
  }
  let changed: (IndexRun & { files: number }) | undefined;
  if (generated && options.changes > 0) {
    const files = changeFiles(generated, Math.min(options.changes, generated.files));
    log(`${label}: re-index after ${files} files changed`);
    changed = { ...(await indexOnce(options.tidemarkBin, library, root, workDir)), files };
    checkRun(`${label}: re-index after ${files} files changed`, changed, {
      updated: files,
      hashed: files,
      unchanged: objects - files,
      deleted: 0,
    });
  }
  return {
    tree: root,
    objects: walkStat.objects,
    floorWalkStat: { wallSeconds: walkStat.wallSeconds },
    floorHash: hash,
    floorWrite,
    first,
    unchanged,
    ...(changed ? { changed } : {}),
  };
}

const secs = (s: number) => `${s.toFixed(2)} s`;
const mb = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;
const num = (n: number) => Math.round(n).toLocaleString('en-US');
const ratio = (x: number) => `${x.toFixed(2)}x`;

function rowsOf(label: string, result: TreeResult): string[][] {
  const floorFirst = result.floorWalkStat.wallSeconds + result.floorHash.wallSeconds;
  const rows = [
    [`${label}`, `${result.tree}: ${num(result.objects)} objects`],
    [
      '  floor walk+stat / hash',
      `${secs(result.floorWalkStat.wallSeconds)} / ${secs(result.floorHash.wallSeconds)} (${num(result.floorHash.files)} files, ${result.floorHash.processes} processes)`,
    ],
    [
      '  floor write (sqlite3 alone)',
      result.floorWrite.available
        ? `${secs(result.floorWrite.seconds)} (${num(result.floorWrite.rows)} rows, ${num(result.floorWrite.batches)} batches in ${num(result.floorWrite.transactions)} transactions, one thread)`
        : 'not measured (no sqlite3 shell)',
    ],
    [
      '  first index',
      `${secs(result.first.seconds)} (wall ${secs(result.first.wallSeconds)}), peak RSS ${mb(result.first.peakRssBytes)}; ${ratio(result.first.seconds / floorFirst)} the floor` +
        (result.floorWrite.available
          ? `, ${ratio(result.first.seconds / (floorFirst + result.floorWrite.seconds))} the floor with its writes`
          : ''),
    ],
    [
      '  re-index, unchanged',
      `${secs(result.unchanged.seconds)} (wall ${secs(result.unchanged.wallSeconds)}), peak RSS ${mb(result.unchanged.peakRssBytes)}; ${ratio(result.unchanged.seconds / result.floorWalkStat.wallSeconds)} the walk+stat floor`,
    ],
  ];
  if (result.changed) {
    rows.push([
      `  re-index, ${num(result.changed.files)} changed`,
      `${secs(result.changed.seconds)} (wall ${secs(result.changed.wallSeconds)}), peak RSS ${mb(result.changed.peakRssBytes)}; ${ratio(result.changed.seconds / result.unchanged.seconds)} the unchanged re-index`,
    ]);
  }
  return rows;
}

function peakOf(result: TreeResult): number {
  return Math.max(
    result.first.peakRssBytes,
    result.unchanged.peakRssBytes,
    result.changed?.peakRssBytes ?? 0,
  );
}

export async function runIndexBench(options: IndexBenchOptions): Promise<void> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-index-bench-'));
  try {
    log(`work dir ${workDir}; measuring ${options.tidemarkBin}`);
    const large = prepareTree(options.files, options.directories);
    log(
      `generated tree: ${num(large.files)} files in ${num(large.directories)} directories at ${large.root} (${large.cached ? 'cached' : `made in ${secs(large.generateSeconds ?? 0)}`})`,
    );
    const results: { [label: string]: TreeResult } = {};
    results.large = await measureTree(options, large.root, workDir, 'large', large);
    if (options.smallFiles > 0) {
      const smallDirs = Math.max(1, Math.round((options.directories * options.smallFiles) / options.files));
      const small = prepareTree(options.smallFiles, smallDirs);
      results.small = await measureTree(options, small.root, workDir, 'small', small);
    }
    if (options.realTree)
      results.real = await measureTree(options, options.realTree, workDir, 'real', undefined);

    const { large: l, small: s } = results;
    const targets = {
      peakRssBelow200MB: peakOf(l) < 200 * MB,
      peakRssWithin20PercentOfSmall: s ? peakOf(l) <= peakOf(s) * 1.2 : null,
      firstIndexAtMost3xFloor: l.first.seconds <= 3 * (l.floorWalkStat.wallSeconds + l.floorHash.wallSeconds),
      unchangedAtMost4xWalkStatFloor: l.unchanged.seconds <= 4 * l.floorWalkStat.wallSeconds,
      changedBelow2xUnchanged: l.changed ? l.changed.seconds < 2 * l.unchanged.seconds : null,
    };
    const machine = {
      cores: os.availableParallelism(),
      cpu: os.cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadAverageAtEnd: os.loadavg(),
    };
    fs.mkdirSync(path.dirname(path.resolve(options.out)), { recursive: true });
    fs.writeFileSync(
      options.out,
      JSON.stringify({ at: new Date().toISOString(), options, machine, results, targets }, null, 2) + '\n',
    );
    const rows = [
      [
        'machine',
        `${machine.cores} cores, node ${machine.node}, load ${machine.loadAverageAtEnd.map((x) => x.toFixed(1)).join(' ')}`,
      ],
      ['cli', options.tidemarkBin],
      ...rowsOf('generated', l),
      ...(s ? rowsOf('generated, small', s) : []),
      ...(results.real ? rowsOf('real', results.real) : []),
      [
        'targets',
        Object.entries(targets)
          .map(([name, ok]) => `${name}=${ok === null ? 'skipped' : ok ? 'met' : 'MISSED'}`)
          .join(', '),
      ],
    ];
    process.stdout.write(formatTable(['figure', 'value'], rows) + `\n\nresults: ${options.out}\n`);
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}
