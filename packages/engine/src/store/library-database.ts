import { ResourceDigest } from '@tidemark/proto';
import { Mutex } from 'async-mutex';
import * as fs from 'node:fs';
import * as sqlite3 from 'sqlite3';
import { DataSource, MigrationExecutor, QueryRunner } from 'typeorm';
import { TidemarkError } from '../errors';
import { QUIET_TYPEORM_LOGGER } from './quiet-typeorm-logger';
import type { ResourceName } from '../resource-types';
import { DigestScanOptions, DigestThread } from './digest-thread';
import { SQLITE_DIALECT, StoreDialect, StoreKind } from './dialect';
import { LIBRARY_MIGRATIONS } from './migrations';
import { refuseNewerSchema } from './newer-schema';

/** A SQL runner bound to one connection (inside a write transaction, or the read connection). */
export interface SqlRunner {
  /** What SQL differs between the stores (store/dialect.ts). */
  readonly dialect: StoreDialect;
  query<Row = { [column: string]: unknown }>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /**
   * Inside a write transaction of a store whose other processes must be told of commits
   * (PostgreSQL): announces, at commit, the head and the resource types the commit wrote.
   */
  readonly announce?: (head: number, types: readonly string[]) => Promise<void>;
  /**
   * PostgreSQL: rows as arrays of column values, for the page read. Cheaper in all than a page
   * built as one JSON text there (about 2.9 against 4 µs of CPU per entry, node and server
   * together); node-sqlite3 has no such mode, and builds an object per row.
   */
  readonly queryArrays?: (sql: string, params?: readonly unknown[]) => Promise<unknown[][]>;
}

/**
 * Where a library's rows live: a SQLite file (`LibraryDatabase`) or a PostgreSQL schema
 * (`PostgresDatabase`). One write path (`writeTransaction`), and reads of committed data only.
 */
export interface LibraryStore {
  readonly kind: StoreKind;
  readonly dialect: StoreDialect;
  /** The SQLite file, or a hub's `database.json` (its URL when opened by URL alone). */
  readonly file: string;
  writeTransaction<T>(fn: (sql: SqlRunner) => Promise<T>): Promise<T>;
  readonly read: SqlRunner;
  /**
   * One type's digest computed away from the event loop, where the store can do that (SQLite:
   * `DigestThread`). Without it, callers run `digestResource` on `read`.
   */
  digest?(name: ResourceName, options?: DigestScanOptions): Promise<ResourceDigest>;
  close(): Promise<void>;
}

const BUSY_TIMEOUT_MS = 15_000;
/**
 * A WAL file past this size is checkpointed whole and truncated after this process's next commit
 * (`truncateLargeWal`). SQLite's own checkpoints never let it grow this far while one process
 * writes; with two (a node applying a sync while `tidemark index` runs) it grew without end.
 */
export const WAL_TRUNCATE_BYTES = 64 * 1024 * 1024;
/**
 * How long that checkpoint waits for another connection's transaction (a reader's, or another
 * process's write) before it gives up until a later commit: this process's writes wait behind it.
 */
const WAL_TRUNCATE_WAIT_MS = 250;
/**
 * After one that could not finish, the next waits until the WAL has grown by this part of the
 * limit: by what is written, not by time, so that a busy library does not wait at every commit.
 */
const WAL_TRUNCATE_RETRY_PART = 0.5;
/** Page cache of the writer connection, in KiB, unless the opener asks for another size. */
export const DEFAULT_WRITER_CACHE_KIB = 16 * 1024;

export interface LibraryDatabaseOptions {
  /** Page cache of the writer connection in KiB (default DEFAULT_WRITER_CACHE_KIB). */
  readonly writerCacheKib?: number;
  /** WAL size past which a commit is followed by a truncating checkpoint (default WAL_TRUNCATE_BYTES). */
  readonly walTruncateBytes?: number;
}

/**
 * TypeORM calls `sqlite3.verbose()`, which patches every Database and Statement method to build
 * an Error and util.inspect() every argument on every call: the whole SQL text and every bound
 * value of a multi-row statement. That was the largest single CPU cost of a backfill, so TypeORM
 * gets the module with a verbose() that leaves it unpatched (errors keep their messages, they
 * just lose the long async stack).
 */
const QUIET_SQLITE3: typeof sqlite3 = Object.create(sqlite3, {
  verbose: { value: () => QUIET_SQLITE3 },
}) as typeof sqlite3;

/**
 * Runs the migrations this file has not run, all in one transaction that holds SQLite's write
 * lock from before TypeORM reads which ones ran. Two processes opening a library of an older
 * schema at once (a node and `tidemark index`) each read the same pending list, and the second
 * ran migrations the first had already committed ("table ... already exists": it failed to open,
 * or a migration that can run twice did so). Now the second waits, then finds nothing pending.
 * One transaction for the whole run also means a failure leaves the file as it was.
 */
async function runPendingMigrations(source: DataSource): Promise<void> {
  const runner = source.createQueryRunner();
  try {
    await runner.query('BEGIN IMMEDIATE');
    try {
      refuseNewerSchema(
        source.options.database as string,
        await appliedMigrations(runner),
        LIBRARY_MIGRATIONS,
      );
      const executor = new MigrationExecutor(source, runner);
      // The transaction is ours: TypeORM's own (BEGIN DEFERRED, one per migration) take the lock
      // only at a migration's first write, after the pending list was read.
      executor.transaction = 'none';
      await executor.executePendingMigrations();
      await runner.query('COMMIT');
    } catch (error) {
      await runner.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } finally {
    await runner.release();
  }
}

/** The migrations recorded in the file, none before its first open. */
async function appliedMigrations(runner: QueryRunner): Promise<string[]> {
  const [table] = await runner.query(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'",
  );
  if (!table) return [];
  const rows = (await runner.query('SELECT name FROM migrations ORDER BY timestamp')) as { name: string }[];
  return rows.map((row) => row.name);
}

/**
 * The library's SQLite file, opened twice: a writer connection used only inside write
 * transactions, and a reader connection for serving and status; digests read on a third, in a
 * thread of their own (`DigestThread`) that the first digest starts. Reads must not share
 * the writer's connection: they would see uncommitted rows of a transaction still in flight, and
 * could serve a row (and a checkpoint past it) that is then rolled back. In WAL mode the reader
 * sees only committed data and never blocks the writer.
 */
export class LibraryDatabase implements LibraryStore {
  readonly kind = 'sqlite';
  readonly dialect = SQLITE_DIALECT;
  private readonly writeLock = new Mutex();
  private closed = false;
  private readonly digests: DigestThread;
  /** The WAL size past which the next truncating checkpoint is tried (after one that was busy). */
  private walTruncateRetryAbove = 0;

  private constructor(
    readonly file: string,
    private readonly writer: DataSource,
    private readonly reader: DataSource,
    private readonly walTruncateBytes: number,
  ) {
    this.digests = new DigestThread(file, BUSY_TIMEOUT_MS);
  }

  static async open(file: string, options: LibraryDatabaseOptions = {}): Promise<LibraryDatabase> {
    const writerCacheKib = options.writerCacheKib ?? DEFAULT_WRITER_CACHE_KIB;
    const walTruncateBytes = options.walTruncateBytes ?? WAL_TRUNCATE_BYTES;
    if (!Number.isSafeInteger(walTruncateBytes) || walTruncateBytes < 0) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `WAL truncate size must be a whole number of bytes, got ${walTruncateBytes}`,
      );
    }
    if (!Number.isSafeInteger(writerCacheKib) || writerCacheKib < 64) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `writer cache must be an integer of at least 64 KiB, got ${writerCacheKib}`,
      );
    }
    const writer = new DataSource({
      type: 'sqlite',
      database: file,
      enableWAL: true,
      busyTimeout: BUSY_TIMEOUT_MS,
      driver: QUIET_SQLITE3,
      migrations: [...LIBRARY_MIGRATIONS],
      synchronize: false,
      logging: false,
      logger: QUIET_TYPEORM_LOGGER,
    });
    try {
      await writer.initialize();
    } catch (error) {
      throw new TidemarkError(
        'STORAGE',
        `cannot open library database ${file}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    // NORMAL is crash-safe in WAL mode: a killed process loses nothing that committed.
    try {
      await writer.query('PRAGMA synchronous = NORMAL');
      // Applying a batch updates indexes keyed by random uuids; with SQLite's 2 MB default cache
      // every batch re-reads and re-spills the same pages. 16 MB keeps the hot index pages.
      await writer.query(`PRAGMA cache_size = -${writerCacheKib}`);
      // A WAL that SQLite restarts by itself is cut back to this size: its file otherwise keeps
      // the largest size it ever had, for as long as the library stays open.
      await writer.query(`PRAGMA journal_size_limit = ${walTruncateBytes}`);
      await runPendingMigrations(writer);
    } catch (error) {
      // A failed migration must not leave the file held open by this process.
      await writer.destroy().catch(() => undefined);
      throw error;
    }
    const reader = new DataSource({
      type: 'sqlite',
      database: file,
      enableWAL: true,
      busyTimeout: BUSY_TIMEOUT_MS,
      driver: QUIET_SQLITE3,
      synchronize: false,
      logging: false,
      logger: QUIET_TYPEORM_LOGGER,
    });
    await reader.initialize();
    return new LibraryDatabase(file, writer, reader, walTruncateBytes);
  }

  /** Runs `fn` in a write transaction: all of it commits, or none of it does. */
  async writeTransaction<T>(fn: (sql: SqlRunner) => Promise<T>): Promise<T> {
    return this.writeLock.runExclusive(async () => {
      this.assertOpen();
      const runner = this.writer.createQueryRunner();
      try {
        // IMMEDIATE takes SQLite's write lock before anything is read, so the change counter read
        // inside is the one this transaction increments: seqs follow commit order even when
        // another process writes the same file.
        await runner.query('BEGIN IMMEDIATE');
        let result: T;
        try {
          result = await fn({
            dialect: SQLITE_DIALECT,
            query: (sql, params) => runner.query(sql, params as unknown[]),
          });
          await runner.query('COMMIT');
        } catch (error) {
          await runner.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
        await this.truncateLargeWal(runner);
        return result;
      } finally {
        await runner.release();
      }
    });
  }

  /**
   * SQLite starts its WAL afresh only when a writer begins after a checkpoint that copied every
   * frame back, with no reader left in it. With two processes writing, the other's commits kept
   * landing while this one's checkpoint ran, so that never happened: a first index of 204,000
   * files beside a writer every 50 ms left a 300 MB WAL for a 195 MB database, a size it keeps
   * while the library stays open. Past WAL_TRUNCATE_BYTES, a commit is followed by a checkpoint
   * that waits (briefly) for the other connections and truncates the WAL.
   */
  private async truncateLargeWal(runner: QueryRunner): Promise<void> {
    let bytes: number;
    try {
      bytes = fs.statSync(`${this.file}-wal`).size;
    } catch {
      return;
    }
    if (bytes <= this.walTruncateBytes) {
      // SQLite restarted the WAL by itself since (and cut the file back: journal_size_limit).
      this.walTruncateRetryAbove = 0;
      return;
    }
    if (bytes <= this.walTruncateRetryAbove) return;
    this.walTruncateRetryAbove = bytes + this.walTruncateBytes * WAL_TRUNCATE_RETRY_PART;
    try {
      await runner.query(`PRAGMA busy_timeout = ${WAL_TRUNCATE_WAIT_MS}`);
      const [result] = (await runner.query('PRAGMA wal_checkpoint(TRUNCATE)')) as { busy: number }[];
      // Busy: another connection's transaction outlasted the wait; the WAL is tried again later.
      if (result?.busy === 0) this.walTruncateRetryAbove = 0;
    } catch {
      // The same: committed data is not at stake here.
    } finally {
      await runner.query(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`).catch(() => undefined);
    }
  }

  /** Reads on the reader connection: committed data only. */
  get read(): SqlRunner {
    return {
      dialect: SQLITE_DIALECT,
      query: (sql, params) => {
        this.assertOpen();
        return this.reader.query(sql, params as unknown[]);
      },
    };
  }

  /** Digests on the digest thread's read-only connection: committed data only, like `read`. */
  async digest(name: ResourceName, options?: DigestScanOptions): Promise<ResourceDigest> {
    this.assertOpen();
    return this.digests.digest(name, options);
  }

  /** The TypeORM data source of the writer, for repositories and the migration table. */
  get dataSource(): DataSource {
    return this.writer;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Wait for the write in flight: closing under it would roll it back half-reported.
    await this.writeLock.runExclusive(async () => {
      this.closed = true;
      await this.digests.close();
      await this.reader.destroy();
      await this.writer.destroy();
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new TidemarkError('CLOSED', 'the library is closed');
  }
}
