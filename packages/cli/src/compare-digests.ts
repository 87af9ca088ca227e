import {
  digestsEqual,
  Library,
  readDigest,
  RESOURCE_NAMES,
  ResourceName,
  resourceNameOf,
  SyncTransport,
  TidemarkError,
} from '@tidemark/engine';

export interface TypeComparison {
  readonly resourceType: ResourceName;
  readonly equal: boolean;
  readonly local: { readonly rows: number; readonly tombstones: number; readonly hash: string };
  readonly peer: { readonly rows: number; readonly tombstones: number; readonly hash: string };
}

/**
 * Compares this library with a peer, type by type, over what both should hold: rows last
 * written by this device are left out on both sides, because the peer may not have pulled them.
 * `includeOwn` compares them too: after a restore, the peer may hold this device's rows that
 * this device lost (`repair --adopt-own`).
 */
export async function compareWithPeer(
  library: Library,
  transport: SyncTransport,
  { includeOwn = false }: { readonly includeOwn?: boolean } = {},
): Promise<TypeComparison[]> {
  const { libraryId, deviceId } = library.identity;
  const excludeOrigins = includeOwn ? [] : [deviceId];
  const remote = await transport.digest({ libraryId, resourceTypes: [], excludeOrigins });
  const results: TypeComparison[] = [];
  for (const theirs of remote.digests) {
    const name = resourceNameOf(theirs.resourceType);
    const ours = await readDigest(library, name, { excludeOrigins });
    results.push({
      resourceType: name,
      equal: digestsEqual(ours, theirs),
      local: {
        rows: ours.rowCount,
        tombstones: ours.tombstoneCount,
        hash: Buffer.from(ours.hash).toString('hex'),
      },
      peer: {
        rows: theirs.rowCount,
        tombstones: theirs.tombstoneCount,
        hash: Buffer.from(theirs.hash).toString('hex'),
      },
    });
  }
  if (results.length !== RESOURCE_NAMES.length) {
    throw new TidemarkError('INTERNAL', 'the peer did not return a digest for every resource type');
  }
  return results;
}
