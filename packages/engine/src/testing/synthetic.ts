import { EntryKind } from '@tidemark/proto';
import { Library } from '../library';
import { ResourceName } from '../resource-types';
import { entryUuidOf } from '../stable-ids';

export interface SyntheticLibraryOptions {
  readonly volumes: number;
  readonly locations: number;
  readonly entries: number;
  /** Seed for the generated ids and sizes; the same seed gives the same library. */
  readonly seed?: number;
  /** Entries per write transaction (an indexer commits in batches). Default 10,000. */
  readonly entriesPerTransaction?: number;
  /**
   * Shared resources to write after the entries: content identities, tags (each assigned to some
   * contents) and collections. Default none.
   */
  readonly shared?: { readonly contents: number; readonly tags: number; readonly collections: number };
  /** Called after each transaction with the resource type and rows written so far. */
  readonly onProgress?: (type: ResourceName, written: number, total: number) => void;
  /** Called between transactions, e.g. to let test clocks move on like a real indexing run. */
  readonly betweenTransactions?: () => void | Promise<void>;
}

/** mulberry32: small, fast and good enough for synthetic data; not for anything secret. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uuidFrom(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  hex[12] = '4';
  hex[16] = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/** Entries per synthetic directory: the directory itself, then its files. */
const DIRECTORY_SIZE = 20;

/**
 * The index-th entry of an indexing run that walks one location after the other, directory by
 * directory, with the ids the indexer derives (`entryUuidOf`): the order and the ids a real
 * library has, which decide how a peer's uuid index is written.
 */
function walkOrder(total: number, locationIds: readonly string[], random: () => number) {
  const perLocation = Math.ceil(total / Math.max(locationIds.length, 1));
  const strayLocation = uuidFrom(random);
  return (index: number) => {
    const locationUuid = locationIds[Math.floor(index / perLocation)] ?? strayLocation;
    const inLocation = index % perLocation;
    const directory = `dir-${Math.floor(inLocation / DIRECTORY_SIZE)}`;
    const isDirectory = inLocation % DIRECTORY_SIZE === 0;
    const relativePath = isDirectory ? directory : `${directory}/file-${inLocation}.dat`;
    return {
      uuid: entryUuidOf(locationUuid, relativePath),
      locationUuid,
      parentUuid: isDirectory ? '' : entryUuidOf(locationUuid, directory),
      relativePath,
      isDirectory,
    };
  };
}

/**
 * Writes a synthetic indexing run through the one write path, in the order a real indexer
 * produces it: volumes, then locations, then entries over many bulk transactions. The volumes
 * and locations are far older than the last entry batch: the timeline on which one global
 * watermark per peer skips them.
 */
export async function writeSyntheticLibrary(
  library: Library,
  options: SyntheticLibraryOptions,
): Promise<void> {
  const random = prng(options.seed ?? 1);
  const deviceUuid = library.identity.deviceId;
  const volumeIds = Array.from({ length: options.volumes }, () => uuidFrom(random));
  const locationIds = Array.from({ length: options.locations }, () => uuidFrom(random));
  const step = options.entriesPerTransaction ?? 10_000;

  await library.write(async (tx) => {
    for (const [index, uuid] of volumeIds.entries()) {
      await tx.put('volume', {
        uuid,
        deviceUuid,
        name: `Volume ${index + 1}`,
        mountPoint: index === 0 ? '/' : `/mnt/disk${index}`,
        filesystem: 'ext4',
        capacityBytes: 500_000_000_000 + index,
      });
    }
  });
  options.onProgress?.('volume', volumeIds.length, volumeIds.length);
  await options.betweenTransactions?.();

  await library.write(async (tx) => {
    for (const [index, uuid] of locationIds.entries()) {
      await tx.put('location', {
        uuid,
        deviceUuid,
        volumeUuid: volumeIds.length ? volumeIds[index % volumeIds.length] : '',
        path: `/data/location-${index + 1}`,
        name: `Location ${index + 1}`,
      });
    }
  });
  options.onProgress?.('location', locationIds.length, locationIds.length);
  await options.betweenTransactions?.();

  const entries = walkOrder(options.entries, locationIds, random);
  for (let start = 0; start < options.entries; start += step) {
    const end = Math.min(options.entries, start + step);
    await library.write(async (tx) => {
      for (let index = start; index < end; index++) {
        const entry = entries(index);
        await tx.put('entry', {
          uuid: entry.uuid,
          deviceUuid,
          locationUuid: entry.locationUuid,
          parentUuid: entry.parentUuid,
          relativePath: entry.relativePath,
          kind: entry.isDirectory ? EntryKind.ENTRY_KIND_DIRECTORY : EntryKind.ENTRY_KIND_FILE,
          sizeBytes: entry.isDirectory ? 0 : Math.floor(random() * 10_000_000),
          modifiedAtMs: 1_700_000_000_000 + index * 1000,
          contentUuid: '',
        });
      }
    });
    options.onProgress?.('entry', end, options.entries);
    await options.betweenTransactions?.();
  }
  if (options.shared) await writeSharedResources(library, random, options.shared, options.onProgress);
}

async function writeSharedResources(
  library: Library,
  random: () => number,
  counts: NonNullable<SyntheticLibraryOptions['shared']>,
  onProgress: SyntheticLibraryOptions['onProgress'],
): Promise<void> {
  const contentIds = Array.from({ length: counts.contents }, () => uuidFrom(random));
  const tagIds = Array.from({ length: counts.tags }, () => uuidFrom(random));
  let assignments = 0;
  await library.write(async (tx) => {
    for (const [index, uuid] of contentIds.entries()) {
      const hash = Array.from({ length: 64 }, () => Math.floor(random() * 16).toString(16)).join('');
      await tx.put('content_identity', {
        uuid,
        contentHash: hash,
        sizeBytes: index * 1024,
        mimeType: 'text/plain',
      });
    }
    for (const [index, uuid] of tagIds.entries()) {
      await tx.put('tag', { uuid, name: `tag ${index + 1}`, color: index % 2 ? '#3366ff' : '' });
    }
    for (let index = 0; index < counts.collections; index++) {
      await tx.put('collection', {
        uuid: uuidFrom(random),
        name: `collection ${index + 1}`,
        description: '',
      });
    }
    // Each tag goes on a few contents, as a person tagging files would.
    for (const tagUuid of tagIds) {
      for (let n = 0; n < 3 && contentIds.length; n++) {
        const contentUuid = contentIds[Math.floor(random() * contentIds.length)];
        await tx.put('tag_assignment', { uuid: uuidFrom(random), tagUuid, contentUuid });
        assignments++;
      }
    }
  });
  onProgress?.('content_identity', counts.contents, counts.contents);
  onProgress?.('tag', counts.tags, counts.tags);
  onProgress?.('collection', counts.collections, counts.collections);
  onProgress?.('tag_assignment', assignments, assignments);
}
