import { Library, readEntriesByInode, readEntryUuidsAt, readHeldUuids, stableUuid } from '@tidemark/engine';
import { EntryKind } from '@tidemark/proto';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { Compared } from './compared-entry';
import { StoredEntry } from './stored-entries';

/**
 * Gone entries held back from deletion within a run, so that a path met later in the walk can
 * still claim them as moved: about 100 bytes each. Beyond this many the oldest are deleted, and a
 * move to a path later in the walk than the first 50,000 deletions becomes a delete and a create.
 */
const MAX_HELD_GONE = 50_000;

/** A stored entry whose path is gone from disk. */
export interface GoneEntry {
  readonly uuid: string;
  readonly relativePath: string;
}

/** Another location of this device, where a file moved into this one may have been indexed. */
export interface OtherLocation {
  readonly uuid: string;
  /** Its real path. */
  readonly root: string;
}

/** A stored entry a new path may have moved from, with its location. */
interface Candidate {
  readonly stored: StoredEntry;
  /** Undefined for this run's own location. */
  readonly other?: OtherLocation;
}

export const absoluteIn = (root: string, relativePath: string) =>
  `${root === '/' ? '' : root}/${relativePath}`;

/**
 * The other locations of this device that a file may move in from: not this one, and not one
 * nested in it or holding it, where the same file is an entry of both locations at once.
 */
export function otherLocationsOf(
  locations: readonly { readonly uuid: string; readonly path: string }[],
  locationUuid: string,
  root: string,
): OtherLocation[] {
  const inside = (path: string, dir: string) => dir === '/' || path === dir || path.startsWith(`${dir}/`);
  return locations
    .filter(
      (location) =>
        location.uuid !== locationUuid && !inside(location.path, root) && !inside(root, location.path),
    )
    .map((location) => ({ uuid: location.uuid, root: location.path }));
}

/**
 * The uuid of a new object at a path whose derived uuid (entryUuidOf) an entry moved away from it
 * still holds: from the path and the file (device, inode and birth time), so that two processes
 * indexing the location at once (a node's watcher and `tidemark index`) give it the same one.
 */
export function entryUuidAgainOf(
  locationUuid: string,
  file: {
    readonly relativePath: string;
    readonly device: number;
    readonly inode: number;
    readonly birthMs: number;
  },
): string {
  return stableUuid(
    `entry-again:${locationUuid}:${file.device}:${file.inode}:${file.birthMs}:${file.relativePath}`,
  );
}

/**
 * Whether the walk can no longer find anything at `relativePath` under `root` (not merely failed
 * to read it): nothing there, or only what the walk does not index there, a FIFO, socket or
 * device, or a path reached through a symlink to a directory (the walk never follows one).
 */
export function isGone(root: string, relativePath: string): boolean {
  let stats: fs.Stats;
  try {
    stats = fs.lstatSync(absoluteIn(root, relativePath));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP';
  }
  if (!stats.isFile() && !stats.isDirectory() && !stats.isSymbolicLink()) return true;
  const parts = relativePath.split('/');
  for (let end = 1; end < parts.length; end++) {
    try {
      if (!fs.lstatSync(absoluteIn(root, parts.slice(0, end).join('/'))).isDirectory()) return true;
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * Renames and moves keep their entry: a new path whose file (device and inode, as `lstat` reports
 * them) was indexed at a path that no longer exists takes that entry's uuid, so the entry is
 * updated in place rather than deleted and created (peers see one put, and what points at the
 * entry stays valid). It must also keep its size, mtime and birth time (where the file system
 * keeps one), as a rename does: file systems hand a freed inode number to the next new file at
 * once (ext4 does), and `rm -r old; mkdir new` is not a move. A path that still exists keeps
 * its own entry whatever its inode (an editor's save-by-rename replaces the inode at the same
 * path), so a file is never claimed from under a path that still holds something.
 *
 * Entries are derived from their path (entryUuidOf), so a moved entry keeps a uuid that a new
 * file at its old path would derive again: such a new file takes one from its path and the file
 * instead (entryUuidAgainOf), the same in any process that indexes it.
 *
 * A file moved in from another location of this device (same file system, so same device and
 * inode) keeps its entry too: the entry is put with this location, path and parent, one change
 * that followers apply as a move, not a delete and a create. Entries of this location are
 * preferred; locations nested in this one, or holding it, are not looked at (the same file is
 * an entry of both there).
 *
 * Where the platform reports no inode (0), or its numbers are not stable (FAT, volume.ts), a move
 * is a delete and a create; the content identity, and so the tags, are kept either way since they
 * follow the bytes.
 */
export class MovedEntries {
  /**
   * Entry uuids taken by a move whose transaction has not committed yet (`release`): never
   * deleted, never derived again, never taken twice. Once committed, the library's reads show
   * the entry at its new path, which serves all three (and every delete of this run checks that
   * an entry is still where the run found it), so a claim is held only while its batch is in
   * flight: a renamed directory of a million files does not hold a million uuids.
   */
  private readonly claimed = new Set<string>();
  /**
   * Claims let go since the last `resolve` began: one that read the library before their commit
   * still counts them (it would take the entry at its old path, gone from disk, a second time).
   */
  private readonly released = new Set<string>();
  /** Gone entries held back for a move, oldest first, by uuid; a claim takes its entry out. */
  private readonly held = new Map<string, GoneEntry>();
  private readonly enabled: boolean;
  /** Moves in this run. */
  count = 0;

  constructor(
    private readonly library: Library,
    private readonly locationUuid: string,
    private readonly root: string,
    /** False when the location had no entries: nothing can have moved within it. */
    hadEntries: boolean,
    /** Other locations of this device a file may have moved in from. */
    private readonly others: readonly OtherLocation[] = [],
  ) {
    // With neither, nothing can have moved: no look-ups are made (a first index of a lone location).
    this.enabled = hadEntries || others.length > 0;
  }

  /** Claims still held (for tests: bounded by the batches being written). */
  get claimsInFlight(): number {
    return this.claimed.size + this.released.size;
  }

  private isClaimed(uuid: string): boolean {
    return this.claimed.has(uuid) || this.released.has(uuid);
  }

  /** A stored entry the walk did not find: held back; returns those to delete now. */
  gone(stored: StoredEntry): GoneEntry[] {
    if (this.isClaimed(stored.uuid)) return [];
    const gone = { uuid: stored.uuid, relativePath: stored.relativePath };
    if (!this.enabled || stored.inode === 0) return [gone];
    this.held.set(gone.uuid, gone);
    const over = this.held.size - MAX_HELD_GONE;
    if (over <= 0) return [];
    const oldest: GoneEntry[] = [];
    for (const entry of this.held.values()) {
      if (oldest.length === over) break;
      oldest.push(entry);
    }
    for (const entry of oldest) this.held.delete(entry.uuid);
    return oldest;
  }

  /**
   * A second entry of a path that is still there: deleted with the batch, not held for a move
   * (the end of a run keeps a held entry whose path exists, index-locations.ts).
   */
  twin(stored: StoredEntry): GoneEntry[] {
    return this.isClaimed(stored.uuid) ? [] : [{ uuid: stored.uuid, relativePath: stored.relativePath }];
  }

  /** The held entries that no move claimed: to delete at the end of the run, or to keep for a later one. */
  unclaimed(): GoneEntry[] {
    const gone = [...this.held.values()];
    this.held.clear();
    return gone;
  }

  /** The entries the moves among `written` claimed: what `release` takes once they are committed. */
  claimsOf(written: readonly Compared[]): string[] {
    return written.flatMap((compared) => (compared.movedFrom ? [compared.movedFrom.uuid] : []));
  }

  /**
   * The transaction that wrote the moves that claimed `uuids` committed: the library's reads now
   * show them (or, for those found stale, never will), so their claims are let go at the next
   * `resolve`. A move that was not written (its file could not be read) keeps its claim for the
   * run, so that its entry is not deleted at its old path.
   */
  release(uuids: readonly string[]): void {
    for (const uuid of uuids) {
      this.claimed.delete(uuid);
      this.released.add(uuid);
    }
  }

  /**
   * Gives the new objects of a batch (in walk order) the entries they moved from, and a random
   * uuid where their derived one is taken; their children (later in the batch, or in later
   * batches through the walk's directory objects) then name the right parent.
   */
  async resolve(batch: readonly Compared[]): Promise<void> {
    // Every read below comes after the commits of what was released until now.
    this.released.clear();
    if (!this.enabled) return;
    const fresh = batch.filter((c) => c.stored === undefined);
    if (fresh.length === 0) return;
    const byInode = new Map<number, Candidate[]>();
    const inodes = [...new Set(fresh.filter((c) => c.walked.inode !== 0).map((c) => c.walked.inode))];
    // This location's own entries first: they are preferred.
    for (const other of [undefined, ...this.others]) {
      const states = await readEntriesByInode(this.library, other?.uuid ?? this.locationUuid, inodes);
      for (const stored of states) {
        byInode.set(stored.inode, [...(byInode.get(stored.inode) ?? []), { stored, other }]);
      }
    }
    const derivedHeld = await readHeldUuids(
      this.library,
      'entry',
      fresh.map((c) => c.fields.uuid),
    );
    // The uuid a path takes when its derived one is taken (by an entry moved away from it): the
    // same in every process that indexes this file here, so two at once store one entry.
    const againUuids = new Map<Compared, string>();
    for (const compared of fresh) {
      if (derivedHeld.has(compared.fields.uuid) || this.isClaimed(compared.fields.uuid)) {
        againUuids.set(compared, entryUuidAgainOf(this.locationUuid, compared.walked));
      }
    }
    const againHeld = await readHeldUuids(this.library, 'entry', [...againUuids.values()]);
    // Paths stored since this run read them: another process indexes this location too.
    const storedSince = await readEntryUuidsAt(
      this.library,
      this.locationUuid,
      fresh.map((c) => c.walked.relativePath),
    );
    for (const compared of batch) {
      // A parent resolved earlier in this pass (or in an earlier batch) gave its walk object a uuid.
      const parentUuid = compared.walked.parent?.uuid;
      if (parentUuid !== undefined && parentUuid !== compared.fields.parentUuid) {
        compared.fields = { ...compared.fields, parentUuid };
      }
      if (compared.stored !== undefined) continue;
      const sameEntry = storedSince.get(compared.walked.relativePath);
      const candidate =
        sameEntry === undefined
          ? this.movedFrom(compared, byInode.get(compared.walked.inode) ?? [])
          : undefined;
      if (sameEntry !== undefined) {
        // Its path holds it already: this run writes that entry, not a second one of the path.
        compared.fields = { ...compared.fields, uuid: sameEntry };
      } else if (candidate) {
        const from = candidate.stored;
        this.claimed.add(from.uuid);
        this.held.delete(from.uuid);
        this.count++;
        compared.movedFrom = from;
        compared.movedFromLocation = candidate.other?.uuid;
        compared.fields = { ...compared.fields, uuid: from.uuid };
        // The content is carried over only when both birth times are known and equal: without
        // them the inode number (with size and mtime) may belong to another file that took over
        // a freed number (a file system without birth times, or unstable inode numbers it is not
        // known to have), so the file is read again rather than given another file's content.
        const sameFileForSure = from.birthMs !== 0 && compared.walked.birthMs !== 0;
        if (
          compared.walked.kind === EntryKind.ENTRY_KIND_FILE &&
          from.contentUuid !== '' &&
          sameFileForSure
        ) {
          compared.fields = { ...compared.fields, contentUuid: from.contentUuid };
          compared.hash = false;
        }
      } else if (derivedHeld.has(compared.fields.uuid) || this.isClaimed(compared.fields.uuid)) {
        const again = againUuids.get(compared);
        // Random where that one is taken too (a hard link of the file where it was indexed), or
        // the derived one was claimed by a move earlier in this batch.
        const uuid =
          again !== undefined && !againHeld.has(again) && !this.isClaimed(again) ? again : randomUUID();
        compared.fields = { ...compared.fields, uuid };
      }
      if (compared.walked.directory) {
        compared.walked.directory.uuid = compared.fields.uuid;
        compared.walked.directory.final = true;
      }
    }
  }

  private movedFrom(compared: Compared, candidates: readonly Candidate[]): Candidate | undefined {
    const { walked } = compared;
    if (walked.inode === 0) return undefined;
    return candidates.find(
      ({ stored, other }) =>
        stored.device === walked.device &&
        stored.kind === walked.kind &&
        (other !== undefined || stored.relativePath !== walked.relativePath) &&
        !this.isClaimed(stored.uuid) &&
        stored.modifiedAtMs === walked.modifiedAtMs &&
        stored.sizeBytes === walked.sizeBytes &&
        (stored.birthMs === 0 || walked.birthMs === 0 || stored.birthMs === walked.birthMs) &&
        isGone(other?.root ?? this.root, stored.relativePath),
    );
  }
}
