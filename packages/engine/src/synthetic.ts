import { EntryKind } from '@tidemark/proto';
import { Library } from './library';

export interface SyntheticLibraryOptions {
  readonly volumes: number;
  readonly locations: number;
  readonly entries: number;
  /** Seed for the generated ids and sizes; the same seed gives the same library. */
  readonly seed?: number;
  /** Entries per write transaction (an indexer commits in batches). Default 10,000. */
  readonly entriesPerTransaction?: number;
  /** Called after each transaction with the resource type and rows written so far. */
  readonly onProgress?: (type: 'volume' | 'location' | 'entry', written: number, total: number) => void;
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

/**
 * Writes a synthetic indexing run through the one write path, in the order a real indexer
 * produces it: volumes, then locations, then entries over many bulk transactions. This is the
 * seed note's timeline: the volumes and locations are far older than the last entry batch.
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

  for (let start = 0; start < options.entries; start += step) {
    const end = Math.min(options.entries, start + step);
    await library.write(async (tx) => {
      for (let index = start; index < end; index++) {
        const isDirectory = index % 20 === 0;
        await tx.put('entry', {
          uuid: uuidFrom(random),
          deviceUuid,
          locationUuid: locationIds.length ? locationIds[index % locationIds.length] : uuidFrom(random),
          parentUuid: '',
          relativePath: `dir-${Math.floor(index / 100)}/file-${index}${isDirectory ? '' : '.dat'}`,
          kind: isDirectory ? EntryKind.ENTRY_KIND_DIRECTORY : EntryKind.ENTRY_KIND_FILE,
          sizeBytes: isDirectory ? 0 : Math.floor(random() * 10_000_000),
          modifiedAtMs: 1_700_000_000_000 + index * 1000,
          contentUuid: '',
        });
      }
    });
    options.onProgress?.('entry', end, options.entries);
    await options.betweenTransactions?.();
  }
}
