import { Command } from 'commander';
import { setFlagsFromString } from 'node:v8';
import { DEFAULT_INDEX_BATCH, IndexSummary } from '../indexer/index-location';
import { indexLocations } from '../indexer/index-locations';
import { WalkProblem } from '../indexer/walk';
import { libraryOwnPaths, positiveInt, refuseHub } from '../options';
import { formatCount, printJson } from '../output';
import { createProgressReporter } from '../progress';
import { withLibrary } from '../with-library';

/**
 * V8 grows its heap after a full GC by up to 4x the live objects when allocation is fast, and an
 * indexing run allocates fast (stats, rows, digests) around a small live set (~25 MB at any tree
 * size). A fixed 1.2x keeps the heap near it, as tidemark node does: measured on 51k files,
 * first index peak RSS 231 -> 187 MB at the same speed.
 */
const HEAP_GROWING_PERCENT = 20;

/**
 * SQLite page cache of the writer, in KiB. A first index writes as many rows as a backfill, and
 * as there (node's daemon-memory.ts) the engine's 16 MiB default only adds to the peak RSS: the
 * rows go in mostly in key order (entry ids cluster by directory, paths in walk order).
 */
export const INDEX_WRITER_CACHE_KIB = 4 * 1024;

/**
 * Entries a first index may write in one transaction, over several batches (see
 * IndexOptions.transactionRows): measured at 1M files, fewer commits write the pages of the
 * random-key indexes to the WAL, and again at checkpoints, fewer times.
 */
const FIRST_INDEX_TRANSACTION_ROWS = 4 * DEFAULT_INDEX_BATCH;

/** Problem lines kept while a progress bar owns the terminal; printed when it stops. */
const MAX_HELD_PROBLEMS = 200;

/**
 * Problem lines go straight to stderr, except under a progress bar, which would be torn by them:
 * there they are held and printed after the bar, with a count of any beyond the first few.
 */
class ProblemLog {
  private readonly held: string[] = [];
  private dropped = 0;

  constructor(private readonly holding: boolean) {}

  add(problem: WalkProblem): void {
    const line = `${problem.type === 'special' ? 'skipped' : 'unreadable'}: ${problem.absolutePath}: ${problem.reason}\n`;
    if (!this.holding) process.stderr.write(line);
    else if (this.held.length < MAX_HELD_PROBLEMS) this.held.push(line);
    else this.dropped++;
  }

  flush(): void {
    for (const line of this.held.splice(0)) process.stderr.write(line);
    if (this.dropped) process.stderr.write(`... and ${formatCount(this.dropped)} more not shown\n`);
  }
}

function printSummary(summary: IndexSummary): void {
  const counts = (['scanned', 'added', 'updated', 'moved', 'deleted', 'unreadable', 'skipped'] as const)
    .map((key) => `${key} ${formatCount(summary[key])}`)
    .join(', ');
  process.stdout.write(
    `indexed ${summary.path} (location ${summary.locationUuid}, volume ${summary.mountPoint} ${summary.filesystem})\n` +
      `${counts} in ${summary.seconds.toFixed(1)} s\n`,
  );
}

export function registerIndex(program: Command): void {
  program
    .command('index')
    .description(
      "scan a directory tree into this device's volume, location and entries, with content identities",
    )
    .requiredOption('--library <dir>', 'library directory')
    .argument(
      '<path...>',
      'directories to index, each a location (symlinks inside are recorded, not followed)',
    )
    .option(
      '--batch-size <n>',
      'entries per write batch (a first index writes up to 4 batches in one transaction)',
      positiveInt('--batch-size'),
      DEFAULT_INDEX_BATCH,
    )
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      `
Re-running it writes only what changed (by relative path: kind, size, mtime, content) and
deletes, with tombstones, the entries whose files are gone. A file or directory renamed or moved
within the folder keeps its entry (matched by device, inode and birth time; see "moved" in the
summary), and so does one moved in from another folder indexed on this device (same file
system) when both are indexed in one command (\`tidemark index A B\`: what one run finds gone is
deleted only after all are walked), or the destination before the source. With --json, one
folder prints its summary, several print an array of them. Files that cannot be read are reported on stderr and skipped; their earlier entries
are kept.

Examples:
  $ tidemark index --library ~/tidemark/laptop ~/Photos
  $ tidemark index --library ~/tidemark/laptop /srv/music --json
  $ tidemark index --library ~/tidemark/laptop ~/Photos ~/Archive/photos`,
    )
    .action(async (targets: string[], options: { library: string; batchSize: number; json?: boolean }) => {
      refuseHub(options.library, 'index folders');
      // Process wide, and this process's one job is the run.
      setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
      const tty = !!process.stderr.isTTY;
      const progress = createProgressReporter({ json: !!options.json, tty });
      const problems = new ProblemLog(tty && !options.json);
      let summaries: IndexSummary[];
      try {
        summaries = await withLibrary(
          options.library,
          (library) =>
            indexLocations(library, targets, {
              batchSize: options.batchSize || DEFAULT_INDEX_BATCH,
              transactionRows: FIRST_INDEX_TRANSACTION_ROWS,
              exclude: libraryOwnPaths(options.library),
              countFirst: !options.json,
              onProgress: (walked) => progress.onIndex(walked),
              onProblem: (problem) => problems.add(problem),
            }),
          { writerCacheKib: INDEX_WRITER_CACHE_KIB },
        );
      } finally {
        progress.stop();
        problems.flush();
      }
      if (options.json) printJson(summaries.length === 1 ? summaries[0] : summaries);
      else summaries.forEach(printSummary);
    });
}
