import {
  contentUuidOf,
  EntryFileId,
  EntryPlace,
  entryUuidOf,
  forgetEntryFileIds,
  FieldsOf,
  Library,
  readEntryAt,
  readEntryPlaces,
  readHeldUuids,
  readLocationsOfDevice,
  recordEntryFileIds,
  TidemarkError,
} from '@tidemark/engine';
import { EntryKind } from '@tidemark/proto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bytesReadToHash, ContentDigest } from './content-hash';
import { defaultHashThreads, HashPool } from './hash-pool';
import { Compared, EntryFields } from './compared-entry';
import { exclusionsUnder } from './exclusions';
import { GroupedWrites } from './grouped-writes';
import { ensureLocation } from './location';
import { GoneEntry, MovedEntries, otherLocationsOf } from './moved-entries';
import { compareUtf8 } from './path-order';
import { StoredEntry, StoredEntryCursor } from './stored-entries';
import { mergeWithStored, TreeChangeSink } from './tree-merge';
import {
  hasFineTimestamps,
  probeVolume,
  timestampTickMsOf,
  UNSTABLE_INODE_FILESYSTEMS,
  volumeUuidOf,
} from './volume';
import { countTree, describeError, walkTreeRuns, WalkedEntry, WalkOptions, WalkProblem } from './walk';

export const DEFAULT_INDEX_BATCH = 5_000;

/**
 * The longest a first index holds the write lock for one transaction of several batches
 * (`transactionRows`), waiting for the next batch included: other writers of the library (a
 * running node applying a sync) wait at most this long, against SQLite's 15 s busy timeout.
 */
export const GROUPED_TRANSACTION_HOLD_MS = 2_000;

/** Where an indexing run stands, for progress lines. */
export interface IndexProgress {
  /** Objects the walk has compared with the store. */
  readonly walked: number;
  /** From a count made first (`countFirst`), or 0 when unknown. */
  readonly total: number;
  readonly filesHashed: number;
  readonly bytesHashed: number;
  readonly seconds: number;
  readonly finished: boolean;
}

export interface IndexOptions {
  /** Entries per write batch: one write transaction each, except as `transactionRows` says. */
  readonly batchSize?: number;
  /**
   * A first index (a location with no entries yet, whole) writes consecutive batches in one
   * transaction, up to this many entries, while the next batch is already walked (never waiting
   * for the walk) and for at most GROUPED_TRANSACTION_HOLD_MS, while no other process writes the
   * library (grouped-writes.ts): fewer commits write the pages of the random-key indexes fewer
   * times. Default: one batch a transaction, as for every other run.
   */
  readonly transactionRows?: number;
  /** Threads that hash files (default: one per core); 0 hashes on the main thread. */
  readonly hashThreads?: number;
  /**
   * The file system's timestamp granularity in ms (default: by its type, volume.ts): a file read
   * within this long of its mtime is read again once it has passed (hash-pool.ts), and names of a
   * directory read ahead are read again unless its ctime was this long before (walk.ts).
   */
  readonly timestampTickMs?: number;
  /** Absolute paths left out (the library's own directory, when it lies inside the tree). */
  readonly exclude?: readonly string[];
  /** Count the tree first so that progress has a total (one extra pass over directory listings). */
  readonly countFirst?: boolean;
  /** Called at most every PROGRESS_MS while the run goes, and once when it is done. */
  readonly onProgress?: (progress: IndexProgress) => void;
  readonly onProblem?: (problem: WalkProblem) => void;
  /**
   * Rescan only these directories (paths relative to the location, '' for its root), not the
   * whole location: each one's own children are compared with what is stored, and a directory
   * new under it is walked whole. One that is not stored as a directory, or is no longer one on
   * disk, is replaced by its parent. What `node --watch` does with the directories of events.
   */
  readonly scopes?: readonly string[];
  /**
   * Asked at the end of the run about each entry gone from disk that no new path claimed as
   * moved (entries with an inode, in a location that had entries); true keeps it stored instead
   * of deleting it, so that a later run can still pair it with a new path. `node --watch` keeps
   * them for a moment, whatever the run (events, or a whole rescan): a move whose delete and
   * create come in two bursts of events, or on either side of a rescan, keeps its entry. The
   * caller must see to it that a later run deletes what stays gone.
   */
  readonly keepGone?: (gone: GoneEntry) => boolean;
  /**
   * Stops the run early (a node shutting down): the batches already sent are written whole, the
   * rest of the tree is left as it is stored, and nothing is deleted as gone that the walk did
   * not reach; the run then rejects with the signal's reason. The next whole run covers the rest.
   */
  readonly signal?: AbortSignal;
}

/** A directory rescanned by itself, with the uuid of its parent's entry. */
interface Scope {
  readonly relativePath: string;
  readonly parentUuid: string;
}

const parentOf = (relativePath: string) => relativePath.slice(0, Math.max(0, relativePath.lastIndexOf('/')));

export interface IndexSummary {
  readonly path: string;
  readonly locationUuid: string;
  readonly volumeUuid: string;
  readonly mountPoint: string;
  readonly filesystem: string;
  /** Files, directories and symlinks indexed (added + updated + unchanged). */
  scanned: number;
  added: number;
  updated: number;
  unchanged: number;
  /** Entries renamed or moved within the location: updated in place, keeping their uuid. */
  moved: number;
  /** Entries gone from disk, deleted with a tombstone. */
  deleted: number;
  /** Objects that could not be read; their stored entries, if any, are kept. */
  unreadable: number;
  /** FIFOs, sockets and devices: not representable as entries. */
  skipped: number;
  /** Content identities this run created (content new to the library). */
  contentAdded: number;
  /** Files whose content was read and hashed (new, or size or mtime moved). */
  hashed: number;
  bytesHashed: number;
  /** Write transactions committed. */
  transactions: number;
  seconds: number;
}

const PROGRESS_MS = 200;
/**
 * A batch is also sent once the walk has compared this many times its size since it began,
 * however little it holds: unchanged entries do not enter batches, so the changes of a mostly
 * unchanged tree would otherwise wait for the walk's end to be hashed and written instead of
 * being written while it goes on.
 */
const WALK_SPAN_PER_BATCH = 10;

/** What one write transaction will hold. */
class Batch {
  readonly compared: Compared[] = [];
  readonly gone: GoneEntry[] = [];
  /** Objects the run had compared when this batch took its first change. */
  since = 0;
  get size(): number {
    return this.compared.length + this.gone.length;
  }
}

/** The real path of a folder to index; NOT_FOUND when it is missing, INVALID_ARGUMENT when a file. */
export async function realDirectory(input: string): Promise<string> {
  // path.resolve('') is the working directory: a stray '' would index wherever the command ran.
  if (input === '')
    throw new TidemarkError('INVALID_ARGUMENT', "cannot index '': an empty path; give the folder");
  let real: string;
  try {
    real = await fs.promises.realpath(path.resolve(input));
  } catch (error) {
    throw new TidemarkError('NOT_FOUND', `cannot index ${input}: ${describeError(error)}`);
  }
  if (!(await fs.promises.stat(real)).isDirectory()) {
    throw new TidemarkError('INVALID_ARGUMENT', `cannot index ${input}: not a directory`);
  }
  return real;
}

function isDirectory(absolutePath: string): boolean {
  try {
    return fs.lstatSync(absolutePath).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Whether the walked object is the stored entry as it was: same kind, parent, size and mtime,
 * the same file (device, inode and birth time, as recorded; no inode on either side where the
 * platform has none), and for a file a known content. Its parent must be final (stored at its
 * path, or the root): a new parent's uuid may still change to a moved entry's.
 */
function isUnchanged(walked: WalkedEntry, stored: StoredEntry): boolean {
  const { parent } = walked;
  return (
    stored.kind === walked.kind &&
    stored.sizeBytes === walked.sizeBytes &&
    stored.modifiedAtMs === walked.modifiedAtMs &&
    (parent === undefined
      ? stored.parentUuid === ''
      : parent.final === true && parent.uuid === stored.parentUuid) &&
    (walked.inode === 0
      ? stored.inode === 0
      : stored.inode === walked.inode &&
        stored.device === walked.device &&
        stored.birthMs === walked.birthMs) &&
    (walked.kind === EntryKind.ENTRY_KIND_FILE) === (stored.contentUuid !== '')
  );
}

function sameEntry(stored: StoredEntry, fields: EntryFields): boolean {
  return (
    stored.uuid === fields.uuid &&
    stored.parentUuid === fields.parentUuid &&
    stored.kind === fields.kind &&
    stored.sizeBytes === fields.sizeBytes &&
    stored.modifiedAtMs === fields.modifiedAtMs &&
    stored.contentUuid === fields.contentUuid
  );
}

/**
 * Indexes one directory tree as a location of this device. The walk comes out in byte order of
 * the relative path and is merged with the stored entries read in the same order, so a run holds
 * the open directory listings and one page of stored entries, not the location. Only files that
 * are new or whose size or mtime moved are read; they are hashed on worker threads while the walk
 * goes on, and what changed is written in bulk transactions through the one write path, one batch
 * written while the next is walked. Entries gone from disk become tombstones.
 */
export class LocationIndexer {
  private readonly batchSize: number;
  private readonly started = performance.now();
  private total = 0;
  private walked = 0;
  private lastProgress = 0;
  private summary!: IndexSummary;
  private hashes!: HashPool;
  private moves!: MovedEntries;
  private writes!: GroupedWrites;

  constructor(
    private readonly library: Library,
    private readonly options: IndexOptions = {},
  ) {
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_INDEX_BATCH);
  }

  async run(input: string): Promise<IndexSummary> {
    const root = await realDirectory(input);
    const volume = await probeVolume(root);
    const deviceUuid = this.library.identity.deviceId;
    const volumeUuid = volumeUuidOf(deviceUuid, volume);
    const locationUuid = await this.library.write(async (tx) => {
      const { name, mountPoint, filesystem, capacityBytes } = volume;
      await tx.putIfChanged('volume', {
        uuid: volumeUuid,
        deviceUuid,
        name,
        mountPoint,
        filesystem,
        capacityBytes,
      });
      return ensureLocation(tx, root, volumeUuid);
    });
    this.summary = {
      path: root,
      locationUuid,
      volumeUuid,
      mountPoint: volume.mountPoint,
      filesystem: volume.filesystem,
      scanned: 0,
      added: 0,
      updated: 0,
      unchanged: 0,
      moved: 0,
      deleted: 0,
      unreadable: 0,
      skipped: 0,
      contentAdded: 0,
      hashed: 0,
      bytesHashed: 0,
      transactions: 0,
      seconds: 0,
    };
    const exclude = new Set(exclusionsUnder(root, this.options.exclude));
    const timestampTickMs = this.options.timestampTickMs ?? timestampTickMsOf(volume.filesystem);
    const walkOptions: WalkOptions = {
      exclude,
      inodes: !UNSTABLE_INODE_FILESYSTEMS.has(volume.filesystem),
      readAhead: hasFineTimestamps(volume.filesystem),
      timestampTickMs,
    };
    const scopes = this.options.scopes && (await this.scopesOf(root, this.options.scopes, exclude));
    if (this.options.countFirst && !scopes) this.total = await countTree(root, walkOptions);

    // A file moved in from another location of this device keeps its entry (moved-entries.ts).
    const others = otherLocationsOf(
      await readLocationsOfDevice(this.library, deviceUuid),
      locationUuid,
      root,
    );
    this.hashes = new HashPool(this.options.hashThreads ?? defaultHashThreads(), timestampTickMs);
    this.groupWrites(0);
    const cursors: StoredEntryCursor[] = [];
    try {
      if (scopes) {
        this.moves = new MovedEntries(this.library, locationUuid, root, true, others);
        await this.compareAndWrite((sink) => this.scoped(root, walkOptions, scopes, cursors, sink));
      } else {
        const stored = await StoredEntryCursor.open(this.library, locationUuid);
        cursors.push(stored);
        if (stored.peek() === undefined) this.groupWrites(this.options.transactionRows ?? 0);
        this.moves = new MovedEntries(this.library, locationUuid, root, stored.peek() !== undefined, others);
        await this.compareAndWrite((sink) => mergeWithStored(walkTreeRuns(root, walkOptions), stored, sink));
      }
    } finally {
      this.writes.close();
      for (const cursor of cursors) await cursor.close();
      await this.hashes.close();
    }
    this.summary.seconds = (performance.now() - this.started) / 1000;
    this.report(true);
    return this.summary;
  }

  /** Batches written up to `rows` entries a transaction (one batch each below `batchSize`). */
  private groupWrites(rows: number): void {
    this.writes?.close();
    this.writes = new GroupedWrites(this.library, { rows, holdMs: GROUPED_TRANSACTION_HOLD_MS });
  }

  /** The changes under each scope in turn: one directory listing and its stored children each. */
  private async scoped(
    root: string,
    walkOptions: WalkOptions,
    scopes: readonly Scope[],
    cursors: StoredEntryCursor[],
    sink: TreeChangeSink,
  ): Promise<void> {
    for (const scope of scopes) {
      const stored = await StoredEntryCursor.open(
        this.library,
        this.summary.locationUuid,
        scope.relativePath,
      );
      cursors.push(stored);
      const walk = walkTreeRuns(root, {
        ...walkOptions,
        under: scope.relativePath ? scope : undefined,
        shallow: true,
      });
      await mergeWithStored(walk, stored, sink, { shallowAt: scope.relativePath });
    }
  }

  /** The requested directories as scopes, each stored and on disk as a directory, in walk order. */
  private async scopesOf(
    root: string,
    requested: readonly string[],
    exclude: ReadonlySet<string>,
  ): Promise<Scope[]> {
    const resolved = new Map<string, string>();
    const absolute = (relativePath: string) =>
      root === '/' ? `/${relativePath}` : `${root}/${relativePath}`;
    const excluded = (relativePath: string) =>
      [...exclude].some(
        (out) => absolute(relativePath) === out || absolute(relativePath).startsWith(`${out}/`),
      );
    for (const wanted of requested) {
      if (path.posix.isAbsolute(wanted) || wanted.split('/').some((part) => part === '..' || part === '.')) {
        throw new TidemarkError(
          'INVALID_ARGUMENT',
          `cannot rescan ${wanted}: not a path inside the location`,
        );
      }
      for (let relativePath = wanted; ; relativePath = parentOf(relativePath)) {
        if (relativePath === '' || resolved.has(relativePath)) {
          if (relativePath === '') resolved.set('', '');
          break;
        }
        if (excluded(relativePath)) break;
        const entry = await readEntryAt(this.library, this.summary.locationUuid, relativePath);
        if (entry?.kind === EntryKind.ENTRY_KIND_DIRECTORY && isDirectory(absolute(relativePath))) {
          resolved.set(relativePath, entry.parentUuid);
          break;
        }
      }
    }
    return [...resolved]
      .map(([relativePath, parentUuid]) => ({ relativePath, parentUuid }))
      .sort((a, b) => compareUtf8(a.relativePath, b.relativePath));
  }

  /** Runs `merge` with a sink that compares, hashes and writes in batches. */
  private async compareAndWrite(merge: (sink: TreeChangeSink) => Promise<void>): Promise<void> {
    let batch = new Batch();
    // One batch is hashed and written while the walk fills the next: at most two are held.
    let writing: Promise<void> = Promise.resolve();
    const send = async (full: Batch): Promise<void> => {
      await this.moves.resolve(full.compared);
      const digests = this.hashes.hash(full.compared.filter((c) => c.hash).map((c) => c.walked.absolutePath));
      digests.catch(() => undefined);
      this.writes.expect();
      await writing;
      // Settles once the batch is written in its transaction, which may still take the next batch.
      writing = this.writeBatch(full, digests);
      // Awaited before the next batch and at the end; until then a failure must not go unhandled.
      writing.catch(() => undefined);
    };
    const span = this.batchSize * WALK_SPAN_PER_BATCH;
    const added = (): Promise<void> | undefined => {
      this.options.signal?.throwIfAborted();
      this.report(false);
      if (batch.size === 0) return undefined;
      if (batch.size === 1 && batch.since === 0) batch.since = this.walked;
      if (batch.size < this.batchSize && this.walked - batch.since < span) return undefined;
      const full = batch;
      batch = new Batch();
      return send(full);
    };
    const merged = merge({
      entry: (walked, stored) => {
        const compared = this.compare(walked, stored);
        if (compared) batch.compared.push(compared);
        return added();
      },
      gone: (stored) => {
        batch.gone.push(...this.moves.gone(stored));
        return added();
      },
      twin: (stored) => {
        batch.gone.push(...this.moves.twin(stored));
        return added();
      },
      problem: (problem) => this.problem(problem),
    });
    try {
      await merged;
    } catch (error) {
      // Stopped: what was sent commits whole before the run gives up.
      if (this.options.signal?.aborted) {
        await writing.catch(() => undefined);
        await this.writes.settle().catch(() => undefined);
      }
      throw error;
    }
    await send(batch);
    // Gone entries held back for moves, in batches like the rest, unless kept for a later run.
    const { keepGone } = this.options;
    const unclaimed = this.moves.unclaimed().filter((gone) => !keepGone?.(gone));
    for (let start = 0; start < unclaimed.length; start += this.batchSize) {
      const last = new Batch();
      last.gone.push(...unclaimed.slice(start, start + this.batchSize));
      await send(last);
    }
    await writing;
    await this.writes.settle();
    this.summary.transactions += this.writes.committed;
  }

  private report(finished: boolean): void {
    // The clock is read every 256 objects: per object, it cost more than an unchanged entry.
    if (!this.options.onProgress || (!finished && this.walked % 256 !== 0)) return;
    const now = performance.now();
    if (!finished && now - this.lastProgress < PROGRESS_MS) return;
    this.lastProgress = now;
    this.options.onProgress({
      walked: this.walked,
      total: this.total,
      filesHashed: this.summary.hashed,
      bytesHashed: this.summary.bytesHashed,
      seconds: (now - this.started) / 1000,
      finished,
    });
  }

  private problem(item: WalkProblem): void {
    this.options.onProblem?.(item);
    if (item.type === 'special') this.summary.skipped++;
    else this.summary.unreadable++;
  }

  /**
   * The entry's new fields; its content is to be hashed when it is new, or its size, mtime or
   * inode moved. Undefined when nothing about it changed: counted here, nothing more is made
   * for it, since that is every entry of a re-index of an unchanged tree.
   */
  private compare(walked: WalkedEntry, stored: StoredEntry | undefined): Compared | undefined {
    this.walked++;
    const { parent, directory } = walked;
    if (stored && isUnchanged(walked, stored)) {
      if (directory) {
        directory.uuid = stored.uuid;
        directory.final = true;
      }
      this.summary.scanned++;
      this.summary.unchanged++;
      return undefined;
    }
    const { locationUuid } = this.summary;
    const parentUuid = parent
      ? (parent.uuid ?? entryUuidOf(locationUuid, parentOf(walked.relativePath)))
      : '';
    // Size, mtime and the file itself decide: a file replaced by another (a new inode, as rsync
    // and editors do by renaming over it) is read again even when it kept size and mtime. The
    // birth time too, where it was stored: ext4 hands a freed inode number to the next new file,
    // so `rm -r pkg` and the same files written again (npm stamps every file with one mtime) get
    // their old numbers back.
    const unmoved =
      walked.kind === EntryKind.ENTRY_KIND_FILE &&
      stored?.kind === walked.kind &&
      stored.sizeBytes === walked.sizeBytes &&
      stored.modifiedAtMs === walked.modifiedAtMs &&
      (stored.inode === 0 ||
        (stored.inode === walked.inode &&
          stored.device === walked.device &&
          (stored.birthMs === 0 || stored.birthMs === walked.birthMs))) &&
      stored.contentUuid !== '';
    const fields: EntryFields = {
      uuid: stored?.uuid ?? entryUuidOf(locationUuid, walked.relativePath),
      deviceUuid: this.library.identity.deviceId,
      locationUuid,
      parentUuid,
      relativePath: walked.relativePath,
      kind: walked.kind,
      sizeBytes: walked.sizeBytes,
      modifiedAtMs: walked.modifiedAtMs,
      contentUuid: unmoved ? stored.contentUuid : '',
    };
    // Its children, walked next, name this entry's uuid as their parent; a stored entry's is final,
    // a new one's may still become a moved entry's (MovedEntries.resolve).
    if (directory) {
      directory.uuid = fields.uuid;
      directory.final = stored !== undefined;
    }
    return { walked, stored, fields, hash: walked.kind === EntryKind.ENTRY_KIND_FILE && !unmoved };
  }

  private async writeBatch(batch: Batch, digests: Promise<(ContentDigest | Error)[]>): Promise<void> {
    let hashed: (ContentDigest | Error)[];
    try {
      hashed = await digests;
    } catch (error) {
      this.writes.cancel();
      throw error;
    }
    const contents = new Map<string, ContentDigest>();
    const written: Compared[] = [];
    const fileIds: EntryFileId[] = [];
    /** Entries whose recorded file no longer applies: the inode is now unknown (or untrusted). */
    const forgotten: string[] = [];
    let next = 0;
    for (const compared of batch.compared) {
      if (compared.hash) {
        const digest = hashed[next++];
        if (digest instanceof Error) {
          // Stored entries of files that cannot be read are kept, as for the walk's problems.
          const reason = describeError(digest);
          this.problem({ ...compared.walked, type: 'unreadable', reason, subtree: false });
          continue;
        }
        this.summary.hashed++;
        this.summary.bytesHashed += bytesReadToHash(digest.sizeBytes);
        // The size and mtime the read saw (fstat of the file read), not the walk's: the file may
        // have changed in between, and stored with the walk's, a later write that puts that
        // mtime back (cp -p, rsync --inplace -t) would leave the content read for good.
        compared.fields = {
          ...compared.fields,
          contentUuid: contentUuidOf(digest.hash),
          sizeBytes: digest.sizeBytes,
          modifiedAtMs: digest.modifiedAtMs,
        };
        contents.set(compared.fields.contentUuid, digest);
      }
      this.summary.scanned++;
      const { device, inode, birthMs } = compared.walked;
      const known = compared.stored ?? compared.movedFrom;
      if (
        inode !== 0 &&
        (known?.inode !== inode ||
          known.device !== device ||
          known.birthMs !== birthMs ||
          // Recorded under the location it came from: recorded again under this one.
          compared.movedFromLocation !== undefined)
      ) {
        fileIds.push({ entryUuid: compared.fields.uuid, device, inode, birthMs });
      } else if (inode === 0 && known !== undefined && known.inode !== 0) {
        forgotten.push(compared.fields.uuid);
      }
      if (compared.stored && sameEntry(compared.stored, compared.fields)) this.summary.unchanged++;
      else written.push(compared);
    }
    if (written.length === 0 && batch.gone.length === 0 && fileIds.length === 0 && forgotten.length === 0) {
      this.writes.cancel();
      return;
    }
    let deleted = 0;
    let stale = new Set<Compared>();
    const release = this.releaseAtCommit(this.moves.claimsOf(written));
    await this.writes.write(
      batch.size,
      async (tx) => {
        // Where each entry this batch updates, moves or deletes is stored now, read once.
        const places = await readEntryPlaces(tx, [
          ...written.flatMap((compared) => {
            const was = compared.stored ?? compared.movedFrom;
            return was ? [was.uuid] : [];
          }),
          ...batch.gone.map((gone) => gone.uuid),
        ]);
        stale = this.staleOf(places, written);
        // Only what is still stored where this run found it: since it was read, another run (of
        // another location a file moved into, or another process indexing this location) may have
        // claimed an entry as moved, and deleting it now would lose it.
        const gone = batch.gone
          .filter((entry) => {
            const place = places.get(entry.uuid);
            return (
              place?.locationUuid === this.summary.locationUuid && place.relativePath === entry.relativePath
            );
          })
          .map((entry) => entry.uuid);
        // Content identities already live: rewriting one would only churn its shared LWW version.
        const held = await readHeldUuids(tx, 'content_identity', [...contents.keys()]);
        const added: FieldsOf<'content_identity'>[] = [];
        for (const [uuid, digest] of contents) {
          if (held.has(uuid)) continue;
          added.push({
            uuid,
            contentHash: digest.hash,
            sizeBytes: digest.sizeBytes,
            mimeType: digest.mimeType,
          });
        }
        await tx.putAll('content_identity', added);
        this.summary.contentAdded += added.length;
        for (const uuid of gone) await tx.delete('entry', uuid);
        await forgetEntryFileIds(tx, [...gone, ...forgotten]);
        await tx.putAll(
          'entry',
          written.flatMap((compared) => (stale.has(compared) ? [] : [compared.fields])),
        );
        const staleUuids = new Set([...stale].map((compared) => compared.fields.uuid));
        await recordEntryFileIds(
          tx,
          this.summary.locationUuid,
          fileIds.filter((id) => !staleUuids.has(id.entryUuid)),
        );
        deleted = gone.length;
      },
      release,
    );
    this.summary.deleted += deleted;
    for (const compared of written) {
      if (stale.has(compared)) continue;
      const { stored, movedFrom } = compared;
      if (stored) this.summary.updated++;
      else if (movedFrom) this.summary.moved++;
      else this.summary.added++;
    }
  }

  /**
   * What a batch's commit calls: its moves' claims let go. Made here, over the claimed uuids only:
   * a closure made in writeBatch would share the context of its transaction callback, which holds
   * the whole batch, and GroupedWrites keeps it until a grouped transaction commits.
   */
  private releaseAtCommit(claims: readonly string[]): (() => void) | undefined {
    return claims.length > 0 ? () => this.moves.release(claims) : undefined;
  }

  /**
   * The updates and moves of `written` whose entry is no longer stored where this run read it:
   * since, another process indexing this location (a node's watcher, `tidemark index`) deleted it
   * (its directory was removed) or moved it. Writing such an entry would put it back as this run
   * saw it, under a parent that may be gone; the next run finds whatever is on disk then.
   */
  private staleOf(places: ReadonlyMap<string, EntryPlace>, written: readonly Compared[]): Set<Compared> {
    return new Set(
      written.filter((compared) => {
        const was = compared.stored ?? compared.movedFrom;
        if (!was) return false;
        const place = places.get(was.uuid);
        const location = compared.stored
          ? this.summary.locationUuid
          : (compared.movedFromLocation ?? this.summary.locationUuid);
        return place?.locationUuid !== location || place.relativePath !== was.relativePath;
      }),
    );
  }
}

/** Indexes `input` into `library`; see LocationIndexer. */
export function indexLocation(
  library: Library,
  input: string,
  options: IndexOptions = {},
): Promise<IndexSummary> {
  return new LocationIndexer(library, options).run(input);
}
