import { ResourceDigest } from '@tidemark/proto';
import { digestResource } from '../digest';
import { ResourceName } from '../resource-types';
import { ReadScope, runnerOf } from './scope';

export interface DigestOptions {
  /** Leave out rows and tombstones last written by these devices (what a peer may not hold yet). */
  readonly excludeOrigins?: readonly string[];
}

/** The order-independent digest of one resource type, as a peer's Digest call computes it. */
export async function readDigest(
  scope: ReadScope,
  name: ResourceName,
  options: DigestOptions = {},
): Promise<ResourceDigest> {
  return digestResource(await runnerOf(scope), name, options);
}
