import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_INDEX_BATCH } from '../indexer/index-location';
import { sqlite3, sqliteCliVersion } from './floor';

/** What a first index writes per file: its entry, its content identity and its file's id. */
const TABLES = ['content_identities', 'entries', 'entry_file_ids'] as const;

/** `row_number()`, with which the rows are staged, came in SQLite 3.25. */
const OLDEST_SHELL = [3, 25, 0];

function olderThan(version: string, oldest: readonly number[]): boolean {
  const parts = version.split('.').map(Number);
  for (let i = 0; i < oldest.length; i++) {
    if ((parts[i] ?? 0) !== oldest[i]) return (parts[i] ?? 0) < oldest[i];
  }
  return false;
}

export interface IndexWriteFloor {
  readonly available: boolean;
  /** Why it was not measured. */
  readonly message?: string;
  readonly sqliteVersion?: string;
  readonly seconds: number;
  /** Rows written: entries, content identities and file ids. */
  readonly rows: number;
  readonly batches: number;
  readonly transactions: number;
}

function mustRun(what: string, args: readonly string[], input?: string): string {
  const run = sqlite3(args, input);
  if (!run.ok) throw new Error(`index write floor: ${what} failed: ${run.stderr.trim()}`);
  return run.stdout;
}

const quotedPath = (file: string) => `'${file.replace(/'/g, "''")}'`;

/**
 * Untimed: the rows a first index wrote, in the order it wrote them, each tagged with its batch
 * (`batch`, from 0) in tables `e`, `c` and `f` of `stageFile`. Entries go `batchRows` to a batch
 * in seq order; a batch's content identities come just before its entries in seq order, so each
 * belongs to the batch of the first entry after it; a file id to its entry's.
 */
export function stageIndexRows(libraryFile: string, stageFile: string, batchRows: number): void {
  mustRun(
    'staging the rows',
    [stageFile],
    [
      `ATTACH ${quotedPath(libraryFile)} AS src;`,
      `CREATE TABLE e AS SELECT *, (row_number() OVER (ORDER BY seq) - 1) / ${batchRows} AS batch FROM src.entries ORDER BY seq;`,
      'CREATE INDEX e_seq ON e (seq);',
      'CREATE INDEX e_uuid ON e (uuid);',
      `CREATE TABLE c AS SELECT c.*, coalesce((SELECT e.batch FROM e WHERE e.seq > c.seq ORDER BY e.seq LIMIT 1), (SELECT max(batch) FROM e), 0) AS batch FROM src.content_identities c ORDER BY c.seq;`,
      'CREATE TABLE f AS SELECT f.*, e.batch AS batch FROM src.entry_file_ids f JOIN e ON e.uuid = f.entry_uuid ORDER BY e.seq;',
      ...['c', 'e', 'f'].map((t) => `CREATE INDEX ${t}_batch ON ${t} (batch);`),
    ].join('\n'),
  );
}

/**
 * The database's part of a first index, measured alone: the rows the index wrote (entries, their
 * content identities and file ids) written again by the sqlite3 shell into empty tables with the
 * library's own schema and indexes, in the order the index wrote them, a batch of the index's size
 * at a time (each batch's content identities, then its entries, then their file ids), in as many
 * transactions as it committed, with the library's WAL, synchronous and cache settings. No Node,
 * no walk, no hash and no packing: what SQLite's B-trees and WAL cost for these rows on this disk,
 * which the walk + stat + hash floor leaves out.
 */
export function measureIndexWriteFloor(
  libraryFile: string,
  workDir: string,
  options: { readonly transactions: number; readonly writerCacheKib: number; readonly batchRows?: number },
): IndexWriteFloor {
  const sqliteVersion = sqliteCliVersion();
  const none = { seconds: NaN, rows: 0, batches: 0, transactions: 0 };
  if (!sqliteVersion) {
    const message =
      'the sqlite3 command-line tool is not installed, so the write floor was not measured; install it (apt-get install -y sqlite3) and run again';
    return { available: false, message, ...none };
  }
  if (olderThan(sqliteVersion, OLDEST_SHELL)) {
    const message = `the sqlite3 shell is ${sqliteVersion}, older than ${OLDEST_SHELL.join('.')}, so the write floor was not measured`;
    return { available: false, message, sqliteVersion, ...none };
  }
  const batchRows = options.batchRows ?? DEFAULT_INDEX_BATCH;
  const stage = path.join(workDir, 'write-floor-stage.db');
  const target = path.join(workDir, 'write-floor.db');
  const remove = () => {
    for (const file of [stage, target]) {
      for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
    }
  };
  remove();
  try {
    const columns = new Map(
      TABLES.map((table) => [
        table,
        mustRun('reading columns', [
          '-readonly',
          libraryFile,
          `SELECT group_concat(name, ', ') FROM pragma_table_info('${table}');`,
        ]).trim(),
      ]),
    );
    stageIndexRows(libraryFile, stage, batchRows);
    const batches = Number(
      mustRun('counting batches', [stage], 'SELECT coalesce(max(batch), -1) + 1 FROM e;').trim(),
    );
    const schema = mustRun('reading the schema', [
      '-readonly',
      libraryFile,
      `SELECT sql || ';' FROM sqlite_master WHERE tbl_name IN (${TABLES.map((t) => `'${t}'`).join(', ')}) AND sql IS NOT NULL ORDER BY type = 'index', name;`,
    ]);
    mustRun('creating the tables', [target], ['PRAGMA journal_mode = WAL;', schema].join('\n'));
    const transactions = Math.max(1, Math.min(batches, options.transactions));
    const perTransaction = Math.max(1, Math.ceil(batches / transactions));
    const staged = { content_identities: 'c', entries: 'e', entry_file_ids: 'f' } as const;
    const script: string[] = [
      'PRAGMA journal_mode = WAL;',
      'PRAGMA synchronous = NORMAL;',
      `PRAGMA cache_size = -${options.writerCacheKib};`,
      `ATTACH ${quotedPath(stage)} AS stage;`,
    ];
    for (let batch = 0; batch < batches; batch++) {
      if (batch % perTransaction === 0) script.push('BEGIN IMMEDIATE;');
      for (const table of TABLES) {
        const list = columns.get(table) ?? '';
        script.push(
          `INSERT INTO main.${table} (${list}) SELECT ${list} FROM stage.${staged[table]} WHERE batch = ${batch};`,
        );
      }
      if (batch % perTransaction === perTransaction - 1 || batch === batches - 1) script.push('COMMIT;');
    }
    const started = performance.now();
    mustRun('writing the rows', [target], script.join('\n'));
    const seconds = (performance.now() - started) / 1000;
    const rows = Number(
      mustRun('counting rows', [
        target,
        `SELECT ${TABLES.map((t) => `(SELECT count(*) FROM ${t})`).join(' + ')};`,
      ]).trim(),
    );
    return {
      available: true,
      sqliteVersion,
      seconds,
      rows,
      batches,
      transactions: Math.ceil(batches / perTransaction),
    };
  } finally {
    remove();
  }
}
