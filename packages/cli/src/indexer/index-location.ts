import {
  contentUuidOf,
  entryUuidOf,
  FieldsOf,
  Library,
  readHeldUuids,
  TidemarkError,
} from '@tidemark/engine';
import { EntryKind } from '@tidemark/proto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ContentDigest, hashContent } from './content-hash';
import { ExistingEntry, loadExistingEntries, markSubtreeSeen } from './existing-entries';
import { ensureLocation } from './location';
import { mapLimit } from './map-limit';
import { probeVolume, volumeUuidOf } from './volume';
import { countTree, describeError, walkTree, WalkedEntry, WalkProblem } from './walk';

export const DEFAULT_INDEX_BATCH = 5_000;
const DEFAULT_HASH_CONCURRENCY = 8;

export interface IndexOptions {
  /** Entries per write transaction. */
  readonly batchSize?: number;
  /** Files hashed at once. */
  readonly hashConcurrency?: number;
  /** Absolute paths left out (the library's own directory, when it lies inside the tree). */
  readonly exclude?: readonly string[];
  /** Count the tree first so that progress has a total (one extra pass over directory listings). */
  readonly countFirst?: boolean;
  readonly onProgress?: (scanned: number, total: number) => void;
  readonly onProblem?: (problem: WalkProblem) => void;
}

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
  /** Entries gone from disk, deleted with a tombstone. */
  deleted: number;
  /** Objects that could not be read; their stored entries, if any, are kept. */
  unreadable: number;
  /** FIFOs, sockets and devices: not representable as entries. */
  skipped: number;
  /** Content identities this run created (content new to the library). */
  contentAdded: number;
  /** Write transactions committed. */
  transactions: number;
  seconds: number;
}

type EntryFields = FieldsOf<'entry'>;

interface Resolved {
  readonly fields: EntryFields;
  readonly existing: ExistingEntry | undefined;
  readonly digest?: ContentDigest;
}

async function realDirectory(input: string): Promise<string> {
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

function sameEntry(existing: ExistingEntry, fields: EntryFields): boolean {
  return (
    existing.uuid === fields.uuid &&
    existing.parentUuid === fields.parentUuid &&
    existing.kind === fields.kind &&
    existing.sizeBytes === fields.sizeBytes &&
    existing.modifiedAtMs === fields.modifiedAtMs &&
    existing.contentUuid === fields.contentUuid
  );
}

/**
 * Indexes one directory tree as a location of this device: a streamed walk, compared by relative
 * path with the stored entries, written in bulk transactions through the one write path. Only
 * what changed is written; entries gone from disk become tombstones.
 */
export class LocationIndexer {
  private readonly batchSize: number;
  private readonly hashConcurrency: number;
  private readonly started = Date.now();
  private total = 0;
  /** Entries taken from the walk so far, for progress. */
  private walked = 0;
  private existing = new Map<string, ExistingEntry>();
  private summary!: IndexSummary;

  constructor(
    private readonly library: Library,
    private readonly options: IndexOptions = {},
  ) {
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_INDEX_BATCH);
    this.hashConcurrency = Math.max(1, options.hashConcurrency ?? DEFAULT_HASH_CONCURRENCY);
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
      deleted: 0,
      unreadable: 0,
      skipped: 0,
      contentAdded: 0,
      transactions: 0,
      seconds: 0,
    };
    this.existing = await loadExistingEntries(this.library, locationUuid);
    const walkOptions = { exclude: new Set(this.options.exclude ?? []) };
    if (this.options.countFirst) this.total = await countTree(root, walkOptions);

    let batch: WalkedEntry[] = [];
    for await (const item of walkTree(root, walkOptions)) {
      if (item.type !== 'entry') {
        this.problem(item);
        continue;
      }
      batch.push(item);
      if (batch.length >= this.batchSize) {
        await this.writeBatch(batch);
        batch = [];
      }
    }
    await this.writeBatch(batch);
    this.options.onProgress?.(this.walked, this.walked);
    await this.deleteUnseen();
    this.summary.seconds = (Date.now() - this.started) / 1000;
    return this.summary;
  }

  private problem(item: WalkProblem): void {
    this.options.onProblem?.(item);
    // A special file is known not to be what was stored there, so a stored entry goes.
    if (item.type === 'special') {
      this.summary.skipped++;
      return;
    }
    this.summary.unreadable++;
    // A read error may be passing (a disk waking up, a permission being fixed): keep what was
    // stored rather than tombstoning it on every peer.
    if (item.subtree) markSubtreeSeen(this.existing, item.relativePath);
    const stored = this.existing.get(item.relativePath);
    if (stored) stored.seen = true;
  }

  private async writeBatch(batch: readonly WalkedEntry[]): Promise<void> {
    if (batch.length === 0) return;
    const resolved = (await mapLimit(batch, this.hashConcurrency, (item) => this.resolve(item))).filter(
      (r): r is Resolved => r !== undefined,
    );
    const changed = resolved.filter((r) => !(r.existing && sameEntry(r.existing, r.fields)));
    this.summary.scanned += resolved.length;
    this.summary.unchanged += resolved.length - changed.length;
    if (changed.length > 0) {
      await this.library.write(async (tx) => {
        const contents = new Map<string, ContentDigest>();
        for (const { fields, digest } of changed) if (digest) contents.set(fields.contentUuid, digest);
        // Content identities already live: rewriting one would only churn its shared LWW version.
        const stored = await readHeldUuids(tx, 'content_identity', [...contents.keys()]);
        for (const [uuid, digest] of contents) {
          if (stored.has(uuid)) continue;
          await tx.put('content_identity', {
            uuid,
            contentHash: digest.hash,
            sizeBytes: digest.sizeBytes,
            mimeType: digest.mimeType,
          });
          this.summary.contentAdded++;
        }
        for (const { fields } of changed) await tx.put('entry', fields);
      });
      this.summary.transactions++;
      for (const { existing } of changed) {
        if (existing) this.summary.updated++;
        else this.summary.added++;
      }
    }
  }

  private async resolve(item: WalkedEntry): Promise<Resolved | undefined> {
    try {
      return await this.compare(item);
    } finally {
      // Per entry, not per batch: a batch of large files can take minutes to hash. Reporters
      // print every call at done >= total, so the count is reported complete once, at the end
      // (the tree may have grown since it was counted).
      this.walked++;
      if (this.walked < this.total) this.options.onProgress?.(this.walked, this.total);
    }
  }

  /** The entry's new fields, hashing a file only when it is new or its size or mtime moved. */
  private async compare(item: WalkedEntry): Promise<Resolved | undefined> {
    const { locationUuid } = this.summary;
    const existing = this.existing.get(item.relativePath);
    if (existing) existing.seen = true;
    const parentPath = path.posix.dirname(item.relativePath);
    const parentUuid =
      parentPath === '.'
        ? ''
        : (this.existing.get(parentPath)?.uuid ?? entryUuidOf(locationUuid, parentPath));
    const fields: EntryFields = {
      uuid: existing?.uuid ?? entryUuidOf(locationUuid, item.relativePath),
      deviceUuid: this.library.identity.deviceId,
      locationUuid,
      parentUuid,
      relativePath: item.relativePath,
      kind: item.kind,
      sizeBytes: item.sizeBytes,
      modifiedAtMs: item.modifiedAtMs,
      contentUuid: '',
    };
    if (item.kind !== EntryKind.ENTRY_KIND_FILE) return { fields, existing };
    const unmoved =
      existing?.kind === item.kind &&
      existing.sizeBytes === item.sizeBytes &&
      existing.modifiedAtMs === item.modifiedAtMs &&
      existing.contentUuid !== '';
    if (unmoved) return { fields: { ...fields, contentUuid: existing.contentUuid }, existing };
    try {
      const digest = await hashContent(item.absolutePath);
      return { fields: { ...fields, contentUuid: contentUuidOf(digest.hash) }, existing, digest };
    } catch (error) {
      this.problem({ ...item, type: 'unreadable', reason: describeError(error), subtree: false });
      return undefined;
    }
  }

  private async deleteUnseen(): Promise<void> {
    const gone = [...this.existing.values()].filter((entry) => !entry.seen).map((entry) => entry.uuid);
    for (let start = 0; start < gone.length; start += this.batchSize) {
      const chunk = gone.slice(start, start + this.batchSize);
      await this.library.write(async (tx) => {
        for (const uuid of chunk) await tx.delete('entry', uuid);
      });
      this.summary.transactions++;
      this.summary.deleted += chunk.length;
    }
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
