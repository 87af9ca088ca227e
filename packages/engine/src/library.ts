import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { merge, Observable, share, Subject, takeUntil } from 'rxjs';
import type { AppliedBatch } from './apply';
import { timeCommitIdWork } from './commit-id-cost';
import { checkFallbackPollMs, CommitWatch, DEFAULT_FALLBACK_POLL_MS } from './commit-watch';
import { TidemarkError } from './errors';
import { decodeHlc, HlcOptions, HybridLogicalClock } from './hlc';
import { checkHistoryMark, currentHistoryMark } from './rolled-back';
import { ChangeSequence } from './sequence';
import { writeHistoryMark } from './store/history-mark';
import { StoreKind } from './store/dialect';
import { inspectLibraryFile } from './store/inspect-file';
import { LibraryDatabase, LibraryStore } from './store/library-database';
import { isDatabaseUrl, PostgresDatabase } from './store/postgres-database';
import { ListenWatch } from './listen-watch';
import { ResourceHeadCache, typeSeqHeads } from './heads';
import { ResourceName } from './resource-types';
import { isUuid } from './validate';
import { LineageCache, lineageIdsFor } from './origin-prefixes';
import { WriteTransaction } from './write-path';

export interface LibraryIdentity {
  /** The library shared by every member device. */
  readonly libraryId: string;
  /** This device. */
  readonly deviceId: string;
  /** Random id of this database file; a recreated or restored database gets a new one. */
  readonly epoch: string;
  readonly name: string;
}

export interface OpenLibraryOptions {
  readonly clock?: HlcOptions;
  /**
   * Commits made by other processes writing this file (an indexer, `tidemark tag`) wake
   * followers through a file-system notification on the WAL. This slow poll, only while someone
   * follows, recovers a commit the notification missed, and is all there is where the file
   * system sends none (docs/architecture.md, "Following commits of other processes").
   * Default 2,000 ms.
   */
  readonly fallbackPollMs?: number;
  /**
   * False: no file-system notification, the fallback poll alone. For a file system whose
   * notifications are known to be wrong; default true.
   */
  readonly commitNotifications?: boolean;
  /** Told when the library's directory cannot be watched (the fallback poll goes on). */
  readonly onCommitWatchError?: (error: TidemarkError) => void;
  /**
   * SQLite page cache of the writer connection, in KiB (default 16 MiB). A bigger cache keeps
   * more of the random-keyed index pages an apply touches; a daemon that must stay small passes
   * less (see @tidemark/node).
   */
  readonly writerCacheKib?: number;
  /**
   * SQLite: the WAL size past which a commit is followed by a checkpoint that truncates it
   * (default 64 MiB, store/library-database.ts).
   */
  readonly walTruncateBytes?: number;
  /**
   * Open the hub library at this PostgreSQL URL (`postgres://user@host:port/db?schema=name`)
   * whatever the directory holds. Without it, a directory with `database.json` and no
   * `library.db` opens the URL written there.
   */
  readonly databaseUrl?: string;
  /** PostgreSQL only: pooled connections of this process (default 10), plus one to LISTEN. */
  readonly maxConnections?: number;
}

export interface CreateLibraryOptions extends OpenLibraryOptions {
  /** Join an existing library by id; a new id is made when absent. */
  readonly libraryId?: string;
  readonly deviceId?: string;
  readonly name?: string;
  readonly deviceName?: string;
}

export const LIBRARY_FILE = 'library.db';
/** In a hub library's directory instead of `library.db`: `{"url": "postgres://..."}`. */
export const DATABASE_LOCATOR_FILE = 'database.json';

/** The locator beside a library file path (`<dir>/database.json` for `<dir>/library.db`). */
export function databaseLocatorOf(file: string): string {
  return path.join(path.dirname(file), DATABASE_LOCATOR_FILE);
}

/**
 * Writes `database.json` into a library directory (made 0700 when new), so that
 * `Library.open(Library.fileIn(dir))` opens the hub at `url`. The file is 0600: the URL may
 * hold a password.
 */
export function writeDatabaseLocator(dir: string, url: string): void {
  if (!isDatabaseUrl(url)) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      'a database URL must start with postgres:// or postgresql://',
    );
  }
  createPrivateDirectory(dir);
  const file = path.join(dir, DATABASE_LOCATOR_FILE);
  fs.writeFileSync(file, JSON.stringify({ url }) + '\n', { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

/** The URL a library directory's `database.json` names. */
export function readDatabaseLocator(file: string): string {
  let url: unknown;
  try {
    url = (JSON.parse(fs.readFileSync(file, 'utf8')) as { url?: unknown }).url;
  } catch (error) {
    throw new TidemarkError('INVALID_ARGUMENT', `cannot read ${file}: ${(error as Error).message}`);
  }
  if (typeof url !== 'string' || !isDatabaseUrl(url)) {
    throw new TidemarkError('INVALID_ARGUMENT', `${file} must be {"url": "postgres://..."}`);
  }
  return url;
}

/** Device and inode of a file: what changes when a file is restored or copied into place. */
function fileIdentityOf(file: string): string {
  const stat = fs.statSync(file);
  return `${stat.dev}:${stat.ino}`;
}

/**
 * What a hub's database is, as `file_identity` records it: the oids of its database and schema.
 * A database restored by pg_restore (or recreated) into place has new ones, so it takes a new
 * epoch on open, as a SQLite file copied into place does.
 */
async function postgresIdentityOf(db: PostgresDatabase): Promise<string> {
  const [row] = await db.read.query<{ id: string }>(
    `SELECT 'pg:' || (SELECT oid FROM pg_database WHERE datname = current_database())::text || ':' ||
            (SELECT oid FROM pg_namespace WHERE nspname = current_schema())::text AS id`,
  );
  return row.id;
}

/** An apply raised the origin prefixes held of a type, from a batch of this peer. */
export interface PrefixesRaised {
  readonly resourceType: string;
  readonly peerDeviceId: string;
}

/**
 * Makes a library directory readable by its owner only (0700). A directory that already exists
 * is the user's and left as it is; `tidemark doctor` says when it is wider.
 */
export function createPrivateDirectory(dir: string): void {
  if (fs.existsSync(dir)) return;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The umask may have narrowed the mode further, never widened it; make it exact.
  fs.chmodSync(dir, 0o700);
}

/**
 * Creates `file` readable by its owner only (0600), exclusively: a file already there, made by
 * another process since the caller checked (two `init`s or `join`s into one new directory), is
 * ALREADY_EXISTS with `alreadyExists` as its message, and left as it is.
 */
export function createPrivateFile(file: string, contents: string, alreadyExists: string): void {
  try {
    fs.writeFileSync(file, contents, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new TidemarkError('ALREADY_EXISTS', alreadyExists, { cause: error });
    }
    throw error;
  }
  // The umask may have widened the mode given to open(); make it exact.
  fs.chmodSync(file, 0o600);
}

/** How often, at most, commits move the history mark beside the database. */
const HISTORY_MARK_INTERVAL_MS = 1_000;

function checkFollowOptions(options: OpenLibraryOptions): void {
  if (options.fallbackPollMs !== undefined) checkFallbackPollMs(options.fallbackPollMs);
}

/** A library file on this device: identity, clock, the one write path and commit notifications. */
export class Library {
  private readonly commitsSubject = new Subject<number>();
  private readonly closing = new Subject<void>();
  private closed = false;
  /** Emits the head seq after every commit made through this process. */
  readonly commits$: Observable<number> = this.commitsSubject.asObservable();
  /**
   * Emits when the change sequence may have moved: at once for commits made through this
   * process, and on a file-system notification for commits of other processes writing the same
   * file (an indexer running beside the node), or at the latest at the next `fallbackPollMs`.
   * One watch serves every follower of this library, and only while someone follows.
   */
  readonly changes$: Observable<number>;
  /**
   * Lineages by id, as committed (serving puts each row's origin epoch on the wire).
   * @internal
   */
  readonly lineages: LineageCache;
  private readonly appliedPrefixesSubject = new Subject<PrefixesRaised>();
  /**
   * Emits a type's name after an apply raised what this device holds of it (its origin
   * prefixes): follow streams from other peers are then re-requested with the new prefixes.
   * @internal
   */
  readonly prefixesRaised$: Observable<PrefixesRaised> = this.appliedPrefixesSubject.asObservable();
  private readonly appliedSubject = new Subject<AppliedBatch>();
  /**
   * Every batch from a peer that committed here, after its commit. A sync's own events cannot
   * carry all of them: a batch whose apply was in flight when its subscriber went away (a
   * session restarted, a connection dropped on another type's stream) still commits, and its
   * subscriber hears nothing of it. Counts of what was applied (a node's metrics) read this.
   */
  readonly applied$: Observable<AppliedBatch> = this.appliedSubject.asObservable();
  readonly fallbackPollMs: number;
  /**
   * Every type's head for handshakes, counted once per library head.
   * @internal
   */
  readonly heads: ResourceHeadCache;
  private readonly commitWatch: CommitWatch | undefined;
  private readonly listenWatch: ListenWatch | undefined;
  /** Commits of this process, per resource type written. */
  private readonly typeCommits = new Map<string, Subject<number>>();

  private constructor(
    /**
     * The raw database, for the engine's own modules only: stripped from the published
     * declarations so that code outside the engine reads through its read functions and writes
     * through `write`, and never depends on table names.
     * @internal
     */
    readonly db: LibraryStore,
    readonly identity: LibraryIdentity,
    readonly clock: HybridLogicalClock,
    options: OpenLibraryOptions,
    /**
     * The id of this database's own lineage (this device, this epoch): every local write carries it.
     * @internal
     */
    readonly ownLineage: number,
  ) {
    this.lineages = new LineageCache(db.read);
    this.heads = new ResourceHeadCache(db.read, () => this.headSeq());
    this.fallbackPollMs = options.fallbackPollMs ?? DEFAULT_FALLBACK_POLL_MS;
    if (db instanceof PostgresDatabase) {
      this.listenWatch = new ListenWatch({
        listen: (onAnnouncement) => db.listen(onAnnouncement),
        readHead: () => this.headSeq(),
        fallbackPollMs: this.fallbackPollMs,
        notifications: options.commitNotifications ?? true,
        onWatchError: options.onCommitWatchError,
      });
    } else {
      this.commitWatch = new CommitWatch({
        file: db.file,
        readHead: () => this.headSeq(),
        readTypeHeads: () => typeSeqHeads(db.read),
        fallbackPollMs: this.fallbackPollMs,
        notifications: options.commitNotifications ?? true,
        onWatchError: options.onCommitWatchError,
      });
    }
    const others = this.listenWatch?.heads$ ?? this.commitWatch!.heads$;
    // Completes on close, so no watch or timer outlives the library.
    this.changes$ = merge(this.commits$, others).pipe(takeUntil(this.closing), share());
  }

  /** Which database holds this library. */
  get store(): StoreKind {
    return this.db.kind;
  }

  /**
   * A hub's pooled connections in this process now (open, idle, waiting for one), for metrics;
   * undefined for SQLite. The LISTEN connection, open while anyone follows, is not pooled.
   */
  get databaseConnections():
    { readonly open: number; readonly idle: number; readonly waiting: number } | undefined {
    return this.db instanceof PostgresDatabase ? this.db.connections : undefined;
  }

  /**
   * Like `changes$`, for the follow streams of one resource type: emits when a commit that
   * wrote `name` may be visible. Only commits of that type (of any process) wake it: in
   * PostgreSQL each commit announces its types; with SQLite, where the WAL notification does
   * not say what a commit wrote, the commit watch reads every type's highest seq once per new
   * head and wakes the types that moved.
   */
  changesOf$(name: ResourceName): Observable<number> {
    let own = this.typeCommits.get(name);
    if (!own) this.typeCommits.set(name, (own = new Subject<number>()));
    const others = this.listenWatch?.headsOf$(name) ?? this.commitWatch!.headsOf$(name);
    return merge(own, others).pipe(takeUntil(this.closing));
  }

  /** Path of this library's database file. */
  get file(): string {
    return this.db.file;
  }

  /** Path of the database inside a library directory. */
  static fileIn(dir: string): string {
    return path.join(dir, LIBRARY_FILE);
  }

  /**
   * Creates a new library database (or a new member of an existing library): a SQLite file at
   * `file`, or with `databaseUrl` a hub library in PostgreSQL whose directory (`file`'s) gets a
   * `database.json` naming the URL.
   */
  static async create(file: string, options: CreateLibraryOptions = {}): Promise<Library> {
    for (const existing of [file, databaseLocatorOf(file)]) {
      if (fs.existsSync(existing)) {
        throw new TidemarkError(
          'ALREADY_EXISTS',
          `${existing} already exists; open it instead of creating it`,
        );
      }
    }
    for (const [label, value] of [
      ['library id', options.libraryId],
      ['device id', options.deviceId],
    ] as const) {
      if (value !== undefined && !isUuid(value)) {
        throw new TidemarkError(
          'INVALID_ARGUMENT',
          `${label} "${value}" must be a lowercase hyphenated UUID`,
        );
      }
    }
    checkFollowOptions(options);
    createPrivateDirectory(path.dirname(file));
    if (options.databaseUrl !== undefined) return Library.createHub(file, options.databaseUrl, options);
    // SQLite gives the -wal and -shm files the mode of the database file: 0600 makes all three
    // private. An empty file is an empty database to SQLite.
    createPrivateFile(file, '', `${file} already exists; open it instead of creating it`);
    const db = await LibraryDatabase.open(file, {
      writerCacheKib: options.writerCacheKib,
      walTruncateBytes: options.walTruncateBytes,
    });
    return Library.initialize(db, fileIdentityOf(file), options);
  }

  /** A new library in PostgreSQL; `database.json` is written only once it exists. */
  private static async createHub(file: string, url: string, options: CreateLibraryOptions): Promise<Library> {
    const db = await PostgresDatabase.open(url, databaseLocatorOf(file), {
      create: true,
      maxConnections: options.maxConnections,
    });
    let library: Library;
    try {
      const [held] = await db.read.query('SELECT 1 FROM library_identity WHERE id = 1');
      if (held) {
        throw new TidemarkError(
          'ALREADY_EXISTS',
          `${db.location.display} (schema "${db.location.schema}") already holds a library; ` +
            'open it (write its URL into the directory with writeDatabaseLocator) instead of creating it',
        );
      }
      library = await Library.initialize(db, await postgresIdentityOf(db), options);
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
    writeDatabaseLocator(path.dirname(file), url);
    return library;
  }

  private static async initialize(
    db: LibraryStore,
    storeIdentity: string,
    options: CreateLibraryOptions,
  ): Promise<Library> {
    const identity: LibraryIdentity = {
      libraryId: options.libraryId ?? randomUUID(),
      deviceId: options.deviceId ?? randomUUID(),
      epoch: randomUUID(),
      name: options.name ?? '',
    };
    await db.writeTransaction((sql) =>
      sql.query(
        `INSERT INTO library_identity (id, library_id, device_id, epoch, name, created_at_ms, file_identity)
         VALUES (1, ?, ?, ?, ?, ?, ?)`,
        [identity.libraryId, identity.deviceId, identity.epoch, identity.name, Date.now(), storeIdentity],
      ),
    );
    const ownLineage = await Library.ownLineageOf(db, identity);
    const library = new Library(
      db,
      identity,
      new HybridLogicalClock(undefined, options.clock),
      options,
      ownLineage,
    );
    await library.write((tx) =>
      tx.put('device', {
        uuid: identity.deviceId,
        name: options.deviceName ?? os.hostname(),
        os: process.platform,
      }),
    );
    await library.markHistory();
    return library;
  }

  /**
   * Opens an existing library, migrating its schema when needed: the SQLite file at `file`, or
   * the hub its directory's `database.json` names (or `options.databaseUrl`).
   */
  static async open(file: string, options: OpenLibraryOptions = {}): Promise<Library> {
    // A hub's `Library.file` is its locator: opening that opens the hub too.
    const locator = path.basename(file) === DATABASE_LOCATOR_FILE ? file : databaseLocatorOf(file);
    const url =
      options.databaseUrl ??
      ((!fs.existsSync(file) || file === locator) && fs.existsSync(locator)
        ? readDatabaseLocator(locator)
        : undefined);
    if (url === undefined && !fs.existsSync(file)) {
      throw new TidemarkError('NOT_FOUND', `no library at ${file}; create one with \`tidemark init\``);
    }
    checkFollowOptions(options);
    if (url !== undefined) {
      return Library.openStore(
        await PostgresDatabase.open(url, options.databaseUrl === undefined ? locator : url, {
          maxConnections: options.maxConnections,
        }),
        options,
      );
    }
    // Looked at read-only first: opening migrates, and another program's SQLite file (or an
    // empty one) must be refused as it is, not given Tidemark's tables and WAL mode first.
    const shape = await inspectLibraryFile(file);
    if (!shape.tidemark && !shape.legacyUnmigrated) {
      throw new TidemarkError(
        'NOT_FOUND',
        `${file} has no library identity; it was not made by \`tidemark init\``,
      );
    }
    return Library.openStore(
      await LibraryDatabase.open(file, {
        writerCacheKib: options.writerCacheKib,
        walTruncateBytes: options.walTruncateBytes,
      }),
      options,
    );
  }

  private static async openStore(db: LibraryStore, options: OpenLibraryOptions): Promise<Library> {
    const file = db.file;
    const [row] = await db.read.query<{
      library_id: string;
      device_id: string;
      epoch: string;
      name: string;
      hlc_floor: string;
      file_identity: string;
    }>(
      'SELECT library_id, device_id, epoch, name, hlc_floor, file_identity FROM library_identity WHERE id = 1',
    );
    if (!row) {
      await db.close();
      throw new TidemarkError(
        'NOT_FOUND',
        `${file} has no library identity; it was not made by \`tidemark init\``,
      );
    }
    const epoch =
      db instanceof PostgresDatabase
        ? // A hub is not restored by copying a file: a database restored into place (pg_restore
          // into a new database or schema) has new oids; a physical restore is caught by commit ids.
          await Library.checkStoreIdentity(db, row.epoch, row.file_identity, await postgresIdentityOf(db))
        : await Library.checkHistoryOf(
            db as LibraryDatabase,
            file,
            await Library.checkStoreIdentity(db, row.epoch, row.file_identity, fileIdentityOf(file)),
          );
    const identity: LibraryIdentity = {
      libraryId: row.library_id,
      deviceId: row.device_id,
      epoch,
      name: row.name,
    };
    // The persisted floor keeps the clock monotonic across restarts and wall-clock steps.
    const clock = new HybridLogicalClock(decodeHlc(row.hlc_floor), options.clock);
    return new Library(db, identity, clock, options, await Library.ownLineageOf(db, identity));
  }

  /** The history mark's check at open (rolled-back.ts), counted as commit-id work. */
  private static checkHistoryOf(db: LibraryDatabase, file: string, epoch: string): Promise<string> {
    return timeCommitIdWork('mark', () => checkHistoryMark(db, file, epoch));
  }

  /** This database's lineage id, made on the first open in an epoch. */
  private static async ownLineageOf(db: LibraryStore, identity: LibraryIdentity): Promise<number> {
    const [row] = await db.read.query<{ id: number }>(
      'SELECT id FROM origin_lineages WHERE origin = ? AND epoch = ?',
      [identity.deviceId, identity.epoch],
    );
    if (row) return row.id;
    const ids = await db.writeTransaction((sql) =>
      lineageIdsFor(sql, [{ origin: identity.deviceId, epoch: identity.epoch }]),
    );
    return [...ids.values()][0];
  }

  /**
   * A library file that is not the file it was last opened as (restored from a backup, copied
   * into place) may have gone back in time: its seqs will be handed out again for new writes,
   * below cursors peers already hold, and those writes would be skipped. A new epoch makes every
   * peer restart this device from 0 instead (idempotent apply keeps that cheap). A file moved by
   * rename keeps its inode and its epoch. Returns the epoch to use.
   */
  private static async checkStoreIdentity(
    db: LibraryStore,
    epoch: string,
    recorded: string,
    actual: string,
  ): Promise<string> {
    if (recorded === actual) return epoch;
    const next = recorded === '' ? epoch : randomUUID();
    await db.writeTransaction((sql) =>
      sql.query('UPDATE library_identity SET epoch = ?, file_identity = ? WHERE id = 1', [next, actual]),
    );
    return next;
  }

  /**
   * The one write path: runs `fn` in a single write transaction in which every put/delete is
   * stamped with this device's HLC and the next seq. Followers are notified after the commit.
   */
  async write<T>(fn: (tx: WriteTransaction) => Promise<T>): Promise<T> {
    let head = 0;
    let base = 0;
    let changed = false;
    let written: ResourceName[] = [];
    const result = await this.db.writeTransaction(async (sql) => {
      const sequence = await ChangeSequence.begin(sql, this.clock);
      const tx = new WriteTransaction(sql, sequence, this.clock, this.identity.deviceId, this.ownLineage);
      const value = await fn(tx);
      await tx.flush();
      await sequence.commit();
      head = sequence.head;
      base = sequence.base;
      changed = sequence.changed;
      written = [...sequence.types];
      return value;
    });
    if (changed) this.notifyCommitted(head, written, base);
    return result;
  }

  /**
   * Tells in-process followers that the change sequence reached `head`.
   * @internal
   */
  notifyCommitted(head: number, types: Iterable<ResourceName>, base?: number): void {
    const written = [...types];
    this.commitWatch?.saw(head, written);
    this.listenWatch?.saw(head, base);
    for (const type of written) this.typeCommits.get(type)?.next(head);
    this.commitsSubject.next(head);
    this.markHistorySoon();
  }

  private historyTimer: NodeJS.Timeout | undefined;

  /**
   * Moves the history mark beside the database up to the head, at most once a second: a mark
   * a little behind the database is still true of it, and a backup copied over the database
   * after the mark moved past the backup is found on the next open.
   */
  private markHistorySoon(): void {
    if (this.historyTimer || this.closed || this.db.kind !== 'sqlite') return;
    this.historyTimer = setTimeout(() => {
      this.historyTimer = undefined;
      void this.markHistory().catch(() => undefined);
    }, HISTORY_MARK_INTERVAL_MS);
    this.historyTimer.unref();
  }

  private async markHistory(): Promise<void> {
    if (this.closed || this.db.kind !== 'sqlite') return;
    await timeCommitIdWork('mark', async () =>
      writeHistoryMark(this.db.file, await currentHistoryMark(this.db.read, this.identity.epoch)),
    );
  }

  /**
   * Tells this process's follow streams that an apply raised the prefixes held of a type.
   * @internal
   */
  notifyPrefixesRaised(raised: PrefixesRaised): void {
    this.appliedPrefixesSubject.next(raised);
  }

  /**
   * Reports a committed batch on `applied$`.
   * @internal
   */
  notifyApplied(batch: AppliedBatch): void {
    this.appliedSubject.next(batch);
  }

  /** The highest committed seq, read from the database (sees commits of other processes too). */
  async headSeq(): Promise<number> {
    const [row] = await this.db.read.query<{ last_seq: number }>(
      'SELECT last_seq FROM library_identity WHERE id = 1',
    );
    return row.last_seq;
  }

  async close(): Promise<void> {
    if (this.historyTimer) clearTimeout(this.historyTimer);
    this.historyTimer = undefined;
    // Best effort: a mark left behind only weakens the check on the next open.
    await this.markHistory().catch(() => undefined);
    this.closed = true;
    this.closing.next();
    this.closing.complete();
    this.commitsSubject.complete();
    this.appliedPrefixesSubject.complete();
    this.appliedSubject.complete();
    await this.db.close();
  }
}
