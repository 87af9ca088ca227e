import { Library, readEntriesByInode, readHeldUuids } from '@tidemark/engine';
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

/** Whether `absolutePath` is known not to exist (not merely unreadable). */
function isGone(absolutePath: string): boolean {
  try {
    fs.lstatSync(absolutePath);
    return false;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR';
  }
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
 * file at its old path would derive again: such a new file takes a random uuid instead.
 *
 * Where the platform reports no inode (0), a move is a delete and a create; the content identity,
 * and so the tags, are kept either way since they follow the bytes.
 */
export class MovedEntries {
  /** Entry uuids taken by a move in this run: never deleted, never derived again. */
  private readonly claimed = new Set<string>();
  private held: GoneEntry[] = [];
  /** Moves in this run. */
  count = 0;

  constructor(
    private readonly library: Library,
    private readonly locationUuid: string,
    private readonly root: string,
    /** False when the location had no entries: nothing can have moved, no look-ups are made. */
    private readonly enabled: boolean,
  ) {}

  /** A stored entry the walk did not find: held back; returns the uuids to delete now. */
  gone(stored: StoredEntry): string[] {
    if (this.claimed.has(stored.uuid)) return [];
    if (!this.enabled || stored.inode === 0) return [stored.uuid];
    this.held.push({ uuid: stored.uuid, relativePath: stored.relativePath });
    if (this.held.length <= MAX_HELD_GONE) return [];
    return this.held
      .splice(0, this.held.length - MAX_HELD_GONE)
      .filter((gone) => !this.claimed.has(gone.uuid))
      .map((gone) => gone.uuid);
  }

  /** The held entries that no move claimed: to delete at the end of the run, or to keep for a later one. */
  unclaimed(): GoneEntry[] {
    const gone = this.held.filter((entry) => !this.claimed.has(entry.uuid));
    this.held = [];
    return gone;
  }

  /**
   * Gives the new objects of a batch (in walk order) the entries they moved from, and a random
   * uuid where their derived one is taken; their children (later in the batch, or in later
   * batches through the walk's directory objects) then name the right parent.
   */
  async resolve(batch: readonly Compared[]): Promise<void> {
    if (!this.enabled) return;
    const fresh = batch.filter((c) => c.stored === undefined);
    if (fresh.length === 0) return;
    const byInode = new Map<number, StoredEntry[]>();
    const inodes = [...new Set(fresh.filter((c) => c.walked.inode !== 0).map((c) => c.walked.inode))];
    for (const state of await readEntriesByInode(this.library, this.locationUuid, inodes)) {
      byInode.set(state.inode, [...(byInode.get(state.inode) ?? []), state]);
    }
    const derivedHeld = await readHeldUuids(
      this.library,
      'entry',
      fresh.map((c) => c.fields.uuid),
    );
    for (const compared of batch) {
      // A parent resolved earlier in this pass (or in an earlier batch) gave its walk object a uuid.
      const parentUuid = compared.walked.parent?.uuid;
      if (parentUuid !== undefined && parentUuid !== compared.fields.parentUuid) {
        compared.fields = { ...compared.fields, parentUuid };
      }
      if (compared.stored !== undefined) continue;
      const from = this.movedFrom(compared, byInode.get(compared.walked.inode) ?? []);
      if (from) {
        this.claimed.add(from.uuid);
        this.count++;
        compared.movedFrom = from;
        compared.fields = { ...compared.fields, uuid: from.uuid };
        if (compared.walked.kind === EntryKind.ENTRY_KIND_FILE && from.contentUuid !== '') {
          compared.fields = { ...compared.fields, contentUuid: from.contentUuid };
          compared.hash = false;
        }
      } else if (derivedHeld.has(compared.fields.uuid) || this.claimed.has(compared.fields.uuid)) {
        compared.fields = { ...compared.fields, uuid: randomUUID() };
      }
      if (compared.walked.directory) {
        compared.walked.directory.uuid = compared.fields.uuid;
        compared.walked.directory.final = true;
      }
    }
  }

  private movedFrom(compared: Compared, candidates: readonly StoredEntry[]): StoredEntry | undefined {
    const { walked } = compared;
    if (walked.inode === 0) return undefined;
    return candidates.find(
      (stored) =>
        stored.device === walked.device &&
        stored.kind === walked.kind &&
        stored.relativePath !== walked.relativePath &&
        !this.claimed.has(stored.uuid) &&
        stored.modifiedAtMs === walked.modifiedAtMs &&
        stored.sizeBytes === walked.sizeBytes &&
        (stored.birthMs === 0 || walked.birthMs === 0 || stored.birthMs === walked.birthMs) &&
        isGone(`${this.root === '/' ? '' : this.root}/${stored.relativePath}`),
    );
  }
}
