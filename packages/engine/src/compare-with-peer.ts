import { ResourceDigest } from '@tidemark/proto';
import { digestOfStore, digestsEqual } from './digest';
import { TidemarkError } from './errors';
import { Library } from './library';
import { RESOURCE_NAMES, ResourceName, resourceNameOf, resourceTypeOf } from './resource-types';
import { SyncTransport } from './transport';

export interface DigestSide {
  readonly rows: number;
  readonly tombstones: number;
  readonly hash: string;
}

export interface TypeComparison {
  readonly resourceType: ResourceName;
  readonly equal: boolean;
  readonly local: DigestSide;
  readonly peer: DigestSide;
}

const sideOf = (digest: ResourceDigest): DigestSide => ({
  rows: digest.rowCount,
  tombstones: digest.tombstoneCount,
  hash: Buffer.from(digest.hash).toString('hex'),
});

export interface CompareOptions {
  /** Only these types (default every type). */
  readonly names?: readonly ResourceName[];
  /**
   * Compare this device's own rows too: after a restore, the peer may hold rows of this device
   * that this device lost (`repair --adopt-own`).
   */
  readonly includeOwn?: boolean;
}

/**
 * Compares this library with a peer, type by type, over what both should hold: rows last
 * written by this device are left out on both sides (unless `includeOwn`), because the peer may
 * not have pulled them.
 */
export async function compareWithPeer(
  library: Library,
  transport: Pick<SyncTransport, 'digest'>,
  { names = RESOURCE_NAMES, includeOwn = false }: CompareOptions = {},
): Promise<TypeComparison[]> {
  const { libraryId, deviceId } = library.identity;
  const excludeOrigins = includeOwn ? [] : [deviceId];
  const remote = await transport.digest({
    libraryId,
    resourceTypes: names.length === RESOURCE_NAMES.length ? [] : names.map(resourceTypeOf),
    excludeOrigins,
  });
  const results: TypeComparison[] = [];
  for (const theirs of remote.digests) {
    const name = resourceNameOf(theirs.resourceType);
    const ours = await digestOfStore(library.db, name, { excludeOrigins });
    results.push({
      resourceType: name,
      equal: digestsEqual(ours, theirs),
      local: sideOf(ours),
      peer: sideOf(theirs),
    });
  }
  const answered = new Set(results.map((result) => result.resourceType));
  if (!names.every((name) => answered.has(name))) {
    throw new TidemarkError('INTERNAL', 'the peer did not return a digest for every resource type asked');
  }
  return results;
}
