import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface FloorResult {
  readonly available: boolean;
  readonly message?: string;
  readonly sqliteVersion?: string;
  readonly rows: number;
  /** The fastest of the runs: a floor is a lower bound, and page-cache writeback makes runs vary. */
  readonly seconds: number;
  readonly rowsPerSecond: number;
  /** Every run, in order. */
  readonly runsSeconds: readonly number[];
}

/** Copies made; the fastest is the floor. Single runs varied from 2.4 to 4.1 s at 1M entries. */
const FLOOR_RUNS = 3;

/** Runs the sqlite3 shell to completion; `ok` is false when it is missing or failed. */
export function sqlite3(
  args: readonly string[],
  input?: string,
): { ok: boolean; stdout: string; stderr: string } {
  const result = spawnSync('sqlite3', args, { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) return { ok: false, stdout: '', stderr: result.error.message };
  return { ok: result.status === 0, stdout: result.stdout, stderr: result.stderr };
}

export function sqliteCliVersion(): string | undefined {
  const result = sqlite3(['--version']);
  return result.ok ? result.stdout.split(' ')[0] : undefined;
}

/**
 * The physical floor: the same rows copied between two SQLite files by the sqlite3 shell, into
 * the same tables with the same indexes, in one transaction (ATTACH + INSERT INTO ... SELECT),
 * WAL and synchronous=NORMAL like a library. Nothing is encoded, sent or compared.
 */
export function measureFloor(sourceFile: string, workDir: string): FloorResult {
  const sqliteVersion = sqliteCliVersion();
  if (!sqliteVersion) {
    const message =
      'the sqlite3 command-line tool is not installed, so the floor was not measured; install it (apt-get install -y sqlite3) and run again';
    return { available: false, message, rows: 0, seconds: NaN, rowsPerSecond: NaN, runsSeconds: [] };
  }
  // The synced tables are found by their shape (every one has hlc, origin and seq) rather than
  // named here: the engine owns its schema, and the floor copies whatever it is.
  const listed = sqlite3([
    '-readonly',
    sourceFile,
    "SELECT m.name FROM sqlite_master m WHERE m.type = 'table' AND " +
      "(SELECT count(*) FROM pragma_table_info(m.name) p WHERE p.name IN ('hlc', 'origin', 'seq')) = 3 ORDER BY m.name",
  ]);
  if (!listed.ok) throw new Error(`sqlite3 could not list the tables of ${sourceFile}: ${listed.stderr}`);
  const tables = listed.stdout.split('\n').filter((name) => name !== '');
  const names = tables.map((t) => `'${t.replace(/'/g, "''")}'`).join(', ');
  const schema = sqlite3([
    '-readonly',
    sourceFile,
    `SELECT sql || ';' FROM sqlite_master WHERE tbl_name IN (${names}) AND sql IS NOT NULL ORDER BY type = 'index', name`,
  ]);
  if (!schema.ok) throw new Error(`sqlite3 could not read the schema of ${sourceFile}: ${schema.stderr}`);
  const runs = Array.from({ length: FLOOR_RUNS }, () => copyOnce(sourceFile, workDir, schema.stdout, tables));
  const seconds = Math.min(...runs.map((run) => run.seconds));
  const rows = runs[0].rows;
  return {
    available: true,
    sqliteVersion,
    rows,
    seconds,
    rowsPerSecond: rows / seconds,
    runsSeconds: runs.map((run) => run.seconds),
  };
}

function copyOnce(
  sourceFile: string,
  workDir: string,
  schema: string,
  tables: readonly string[],
): { rows: number; seconds: number } {
  const target = path.join(workDir, 'floor.db');
  fs.rmSync(target, { force: true });
  const script = [
    'PRAGMA journal_mode = WAL;',
    'PRAGMA synchronous = NORMAL;',
    schema,
    `ATTACH '${sourceFile.replace(/'/g, "''")}' AS src;`,
    'BEGIN;',
    ...tables.map((t) => `INSERT INTO main."${t}" SELECT * FROM src."${t}";`),
    'COMMIT;',
  ].join('\n');
  const started = performance.now();
  const run = sqlite3([target], script);
  const seconds = (performance.now() - started) / 1000;
  if (!run.ok) throw new Error(`sqlite3 floor copy failed: ${run.stderr}`);
  const counted = sqlite3([
    target,
    `SELECT ${tables.map((t) => `(SELECT count(*) FROM "${t}")`).join(' + ')};`,
  ]);
  const rows = Number(counted.stdout.trim());
  fs.rmSync(target, { force: true });
  fs.rmSync(target + '-wal', { force: true });
  fs.rmSync(target + '-shm', { force: true });
  return { rows, seconds };
}
