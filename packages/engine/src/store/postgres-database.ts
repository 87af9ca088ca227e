import { Mutex } from 'async-mutex';
import * as pg from 'pg';
import { DataSource } from 'typeorm';
import { isTidemarkError, TidemarkError } from '../errors';
import { QUIET_TYPEORM_LOGGER } from './quiet-typeorm-logger';
import { POSTGRES_DIALECT } from './dialect';
import type { LibraryStore, SqlRunner } from './library-database';
import { refuseNewerSchema } from './newer-schema';
import { POSTGRES_MIGRATIONS } from './postgres-migrations';

/** Default of `OpenLibraryOptions.maxConnections`: pooled connections per process. */
export const DEFAULT_MAX_CONNECTIONS = 10;

/** What a `postgres://` URL names: where to connect, and the schema that holds the library. */
export interface PostgresLocation {
  /** The URL given to `pg`, without the `schema` parameter. */
  readonly connectionString: string;
  readonly schema: string;
  /** The URL with any password masked, for messages. */
  readonly display: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function isDatabaseUrl(text: string): boolean {
  return /^postgres(ql)?:\/\//i.test(text);
}

/**
 * Parses a hub URL: `postgres://user:password@host:port/database?schema=name`. `schema`
 * (default `public`) is taken out and becomes the search path of every connection, so one
 * database can hold several libraries; every other parameter is `pg`'s.
 */
export function parseDatabaseUrl(text: string): PostgresLocation {
  let url: URL;
  try {
    if (!isDatabaseUrl(text)) throw new Error('not a postgres:// URL');
    url = new URL(text);
  } catch (error) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `"${maskPassword(text)}" is not a PostgreSQL URL (postgres://user@host:port/database?schema=name): ${
        (error as Error).message
      }`,
    );
  }
  const schema = url.searchParams.get('schema') ?? 'public';
  if (!SCHEMA_NAME.test(schema)) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `schema "${schema}" must be lowercase letters, digits and underscores, starting with a letter or underscore`,
    );
  }
  url.searchParams.delete('schema');
  return { connectionString: url.toString(), schema, display: maskPassword(text) };
}

function maskPassword(text: string): string {
  return text.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

/** int8 as a JS number; a value beyond 2^53 would silently lose digits, so it is refused. */
function safeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new TidemarkError('STORAGE', `integer ${text} is beyond 2^53 and cannot be read exactly`);
  }
  return value;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** Per-connection type parsers: the process-wide `pg.types` stay untouched for other users. */
const TYPES = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID) return safeInteger;
    // sum() of bigints is numeric; the engine's are whole numbers well below 2^53.
    if (oid === NUMERIC_OID) return Number;
    return pg.types.getTypeParser(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

const numbered = new Map<string, string>();

/**
 * The engine writes `?` (and `?N`) placeholders, which both SQLite and this runner accept;
 * PostgreSQL wants `$N`. Quoted strings, quoted names and comments are left alone.
 */
export function numberPlaceholders(sql: string): string {
  const known = numbered.get(sql);
  if (known !== undefined) return known;
  let out = '';
  let next = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end < 0 ? sql.length : end;
      out += sql.slice(i, stop + 1);
      i = stop;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      let digits = '';
      while (i + 1 < sql.length && sql[i + 1] >= '0' && sql[i + 1] <= '9') digits += sql[++i];
      out += `$${digits === '' ? ++next : digits}`;
    } else {
      out += c;
    }
  }
  // Statements built per call (IN lists of varying length) must not grow this without bound.
  if (numbered.size > 1_000) numbered.clear();
  numbered.set(sql, out);
  return out;
}

/** A commit's announcement to every process listening on the library's channel. */
export interface CommitAnnouncement {
  readonly head: number;
  readonly types: readonly string[];
}

/** The channel a library's commits are announced on (one per schema). */
export function commitChannelOf(schema: string): string {
  return `tidemark_commits_${schema}`;
}

export function encodeAnnouncement(announcement: CommitAnnouncement): string {
  return `${announcement.head} ${announcement.types.join(',')}`;
}

export function decodeAnnouncement(payload: string): CommitAnnouncement | undefined {
  const [head, types = ''] = payload.split(' ');
  const value = Number(head);
  if (!Number.isSafeInteger(value) || value < 0) return undefined;
  return { head: value, types: types === '' ? [] : types.split(',') };
}

export interface PostgresDatabaseOptions {
  /** Pooled connections of this process (default DEFAULT_MAX_CONNECTIONS, at least 2). */
  readonly maxConnections?: number;
  /** Make the schema when it does not exist (creating a library); otherwise it must exist. */
  readonly create?: boolean;
}

function runnerOf(client: pg.ClientBase, announce?: SqlRunner['announce']): SqlRunner {
  return {
    dialect: POSTGRES_DIALECT,
    query: async <Row>(sql: string, params?: readonly unknown[]) =>
      (await client.query(numberPlaceholders(sql), params as unknown[])).rows as Row[],
    queryArrays: async (sql: string, params?: readonly unknown[]) =>
      (
        await client.query<unknown[]>({
          text: numberPlaceholders(sql),
          values: params as unknown[],
          rowMode: 'array',
        })
      ).rows,
    announce,
  };
}

/** The migrations recorded in the hub's schema (on the connection's search path), none before its first open. */
async function appliedMigrations(client: pg.PoolClient): Promise<string[]> {
  const { rows: exists } = await client.query<{ found: boolean }>(
    "SELECT to_regclass('migrations') IS NOT NULL AS found",
  );
  if (!exists[0]?.found) return [];
  const { rows } = await client.query<{ name: string }>('SELECT name FROM migrations ORDER BY timestamp');
  return rows.map((row) => row.name);
}

/**
 * A library in PostgreSQL (a hub): one schema, reached through a bounded pool of connections.
 * Reads go to any pooled connection outside a transaction (READ COMMITTED: committed data only).
 * Every write transaction locks the counter row (`library_identity`, id 1) FIRST, so write
 * transactions of every process are serialized from their first statement to their commit:
 * the seqs one takes are above every seq of every transaction committed before it, and none
 * commits after a later one (seq order is commit order; docs/architecture.md, "PostgreSQL").
 */
export class PostgresDatabase implements LibraryStore {
  readonly kind = 'postgres';
  readonly dialect = POSTGRES_DIALECT;
  private readonly writeLock = new Mutex();
  private closed = false;

  private constructor(
    readonly file: string,
    readonly location: PostgresLocation,
    private readonly dataSource: DataSource,
    private readonly pool: pg.Pool,
    readonly maxConnections: number,
  ) {}

  static async open(
    url: string,
    file: string,
    options: PostgresDatabaseOptions = {},
  ): Promise<PostgresDatabase> {
    const location = parseDatabaseUrl(url);
    const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (!Number.isSafeInteger(maxConnections) || maxConnections < 2 || maxConnections > 1000) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `max connections must be a whole number from 2 to 1000, got ${maxConnections}`,
      );
    }
    await PostgresDatabase.prepareSchema(location, options.create ?? false);
    const dataSource = new DataSource({
      type: 'postgres',
      url: location.connectionString,
      schema: location.schema,
      migrations: [...POSTGRES_MIGRATIONS],
      migrationsTransactionMode: 'each',
      synchronize: false,
      logging: false,
      logger: QUIET_TYPEORM_LOGGER,
      installExtensions: false,
      extra: {
        max: maxConnections,
        types: TYPES,
        options: `-c search_path=${location.schema}`,
        // An idle pooled connection is closed after this; a hub that goes quiet gives them back.
        idleTimeoutMillis: 30_000,
      },
    });
    try {
      await dataSource.initialize();
    } catch (error) {
      throw new TidemarkError(
        'STORAGE',
        `cannot connect to ${location.display}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const pool = (dataSource.driver as unknown as { master: pg.Pool }).master;
    const database = new PostgresDatabase(file, location, dataSource, pool, maxConnections);
    try {
      // Two processes opening the same hub at once must not both migrate it.
      const client = await pool.connect();
      try {
        await client.query('SELECT pg_advisory_lock(hashtext($1))', [`tidemark:${location.schema}`]);
        try {
          refuseNewerSchema(location.display, await appliedMigrations(client), POSTGRES_MIGRATIONS);
          await dataSource.runMigrations({ transaction: 'each' });
        } finally {
          await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`tidemark:${location.schema}`]);
        }
      } finally {
        client.release();
      }
    } catch (error) {
      await dataSource.destroy().catch(() => undefined);
      if (isTidemarkError(error) && error.code === 'FAILED_PRECONDITION') throw error;
      throw new TidemarkError(
        'STORAGE',
        `cannot migrate the library in ${location.display}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return database;
  }

  /** Makes the schema for a new library, or checks that an existing library's is there. */
  private static async prepareSchema(location: PostgresLocation, create: boolean): Promise<void> {
    const client = new pg.Client({ connectionString: location.connectionString });
    try {
      await client.connect();
    } catch (error) {
      throw new TidemarkError(
        'STORAGE',
        `cannot connect to ${location.display}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      if (create) {
        await client.query(`CREATE SCHEMA IF NOT EXISTS "${location.schema}"`);
        return;
      }
      const { rows } = await client.query(
        `SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'library_identity'`,
        [location.schema],
      );
      if (rows.length === 0) {
        throw new TidemarkError(
          'NOT_FOUND',
          `no library in schema "${location.schema}" of ${location.display}; create one with \`tidemark init --database\``,
        );
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * Runs `fn` in a write transaction, after locking the counter row: all of it commits, or none
   * of it does. Its commit announcement (`announce`) is a NOTIFY sent in the same transaction,
   * which PostgreSQL delivers at commit and drops on rollback.
   */
  async writeTransaction<T>(fn: (sql: SqlRunner) => Promise<T>): Promise<T> {
    // One write at a time per process: the others would only wait on the row lock holding a
    // pooled connection that reads need.
    return this.writeLock.runExclusive(async () => {
      this.assertOpen();
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        try {
          // The counter row, locked before anything is read: the seq lock (see the class).
          await client.query('SELECT last_seq FROM library_identity WHERE id = 1 FOR UPDATE');
          const channel = commitChannelOf(this.location.schema);
          const result = await fn(
            runnerOf(client, async (head, types) => {
              await client.query('SELECT pg_notify($1, $2)', [channel, encodeAnnouncement({ head, types })]);
            }),
          );
          await client.query('COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
          throw error;
        }
      } finally {
        client.release(broken);
      }
    });
  }

  /** Reads on pooled connections, each statement on its own snapshot of committed data. */
  get read(): SqlRunner {
    return {
      dialect: POSTGRES_DIALECT,
      query: async <Row>(sql: string, params?: readonly unknown[]) => {
        this.assertOpen();
        return (await this.pool.query(numberPlaceholders(sql), params as unknown[])).rows as Row[];
      },
      queryArrays: async (sql: string, params?: readonly unknown[]) => {
        this.assertOpen();
        return (
          await this.pool.query<unknown[]>({
            text: numberPlaceholders(sql),
            values: params as unknown[],
            rowMode: 'array',
          })
        ).rows;
      },
    };
  }

  /**
   * A connection of its own, outside the pool, for LISTEN: a listening connection must stay
   * open and cannot be shared with queries of other callers.
   */
  async listen(onAnnouncement: (announcement: CommitAnnouncement) => void): Promise<pg.Client> {
    this.assertOpen();
    const client = new pg.Client({
      connectionString: this.location.connectionString,
      types: TYPES,
    });
    await client.connect();
    const channel = commitChannelOf(this.location.schema);
    client.on('notification', (message) => {
      if (message.channel !== channel || message.payload === undefined) return;
      const announcement = decodeAnnouncement(message.payload);
      if (announcement) onAnnouncement(announcement);
    });
    await client.query(`LISTEN "${channel}"`);
    return client;
  }

  /** Pooled connections open now (busy or idle), and how many wait for one. */
  get connections(): { readonly open: number; readonly idle: number; readonly waiting: number } {
    return { open: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.writeLock.runExclusive(async () => {
      this.closed = true;
      await this.dataSource.destroy();
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new TidemarkError('CLOSED', 'the library is closed');
  }
}
