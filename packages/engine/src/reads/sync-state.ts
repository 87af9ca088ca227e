import { ResourceHead } from '@tidemark/proto';
import { resourceHeads, rowCountsByOwner } from '../heads';
import { PeerHead, PeerHeadStore } from '../peer-heads';
import { ResourceName } from '../resource-types';
import { ResourceWatermark, ResourceWatermarkStore } from '../watermarks';
import { ReadScope, runnerOf } from './scope';

/** How many rows of one resource type one device owns here ('shared' for shared types). */
export interface RowCount {
  readonly resourceType: ResourceName;
  readonly owner: string;
  readonly rows: number;
}

/** How far each resource type goes in this library, in dependency order (what a handshake sends). */
export async function readResourceHeads(scope: ReadScope): Promise<ResourceHead[]> {
  return resourceHeads(await runnerOf(scope));
}

/** Rows per resource type and owning device, for status screens. */
export async function readRowCountsByOwner(scope: ReadScope): Promise<RowCount[]> {
  return rowCountsByOwner(await runnerOf(scope));
}

/** What this device has applied of each peer, per resource type: by peer, in dependency order. */
export async function readWatermarks(scope: ReadScope): Promise<ResourceWatermark[]> {
  return new ResourceWatermarkStore(await runnerOf(scope)).all();
}

/** What each peer said it held at its last handshake (raised by every batch since). */
export async function readPeerHeads(scope: ReadScope): Promise<PeerHead[]> {
  return new PeerHeadStore(await runnerOf(scope)).all();
}
