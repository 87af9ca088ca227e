/** What the hub bench's parent and its load-generator children (hub-followers.ts) say over IPC. */
import { ResourceType } from '@tidemark/proto';

/** One follower: a member device of the hub's library, dialling one node process. */
export interface FollowerSpec {
  readonly index: number;
  readonly address: string;
  readonly deviceId: string;
  readonly keyPem: string;
  readonly certPem: string;
  /** The entry cursor its backfill starts after: the seq before its location's first entry. */
  readonly fromSeq: number;
  /** The seq of its location's last entry: the backfill stops once a checkpoint reaches it. */
  readonly toSeq: number;
}

export type LoadCommand =
  | {
      readonly cmd: 'connect';
      readonly libraryId: string;
      readonly hubCertPem: string;
      readonly followers: readonly FollowerSpec[];
    }
  | { readonly cmd: 'backfill'; readonly batchSize: number }
  | {
      readonly cmd: 'follow';
      /** Where every type stands now: the follow streams start there (no handshake needed). */
      readonly epoch: string;
      readonly heads: readonly { readonly resourceType: ResourceType; readonly seq: number }[];
    }
  | { readonly cmd: 'arrivals' }
  | { readonly cmd: 'stop-follow' }
  | { readonly cmd: 'close' };

export interface SliceResult {
  /** Rows and tombstones received, every type. */
  readonly rows: number;
  readonly entries: number;
  /**
   * The share of the entries received that belong to the location received most: 1 when the
   * slice is exactly one location. Entries the writer updated in earlier runs left their
   * location's seq range, so its last page reaches a little into the next location.
   */
  readonly mainLocationShare: number;
  readonly ms: number;
}

export type LoadReply =
  | { readonly cmd: 'connect'; readonly followers: number; readonly handshakeRetries: number }
  | { readonly cmd: 'backfill'; readonly slices: readonly SliceResult[] }
  | { readonly cmd: 'follow'; readonly followers: number }
  | { readonly cmd: 'arrivals'; readonly arrivals: readonly number[] }
  | { readonly cmd: 'stop-follow'; readonly latencyArrivals: readonly (readonly [number, number])[][] }
  | { readonly cmd: 'close' }
  | { readonly cmd: 'error'; readonly message: string };

/** Entries the bench's writer commits carry MARK + the commit's index as their size. */
export const MARK = 2 ** 40;

/** What a follower backfills from 0 besides its location's entries: what it needs to use them. */
export const SLICE_TYPES: readonly ResourceType[] = [
  ResourceType.RESOURCE_TYPE_MEMBERSHIP,
  ResourceType.RESOURCE_TYPE_DEVICE,
  ResourceType.RESOURCE_TYPE_VOLUME,
  ResourceType.RESOURCE_TYPE_LOCATION,
];

/** A follower follows every type, as a device does. */
export const FOLLOW_TYPES: readonly ResourceType[] = [
  ResourceType.RESOURCE_TYPE_MEMBERSHIP,
  ResourceType.RESOURCE_TYPE_DEVICE,
  ResourceType.RESOURCE_TYPE_VOLUME,
  ResourceType.RESOURCE_TYPE_LOCATION,
  ResourceType.RESOURCE_TYPE_CONTENT_IDENTITY,
  ResourceType.RESOURCE_TYPE_ENTRY,
  ResourceType.RESOURCE_TYPE_TAG,
  ResourceType.RESOURCE_TYPE_COLLECTION,
  ResourceType.RESOURCE_TYPE_TAG_ASSIGNMENT,
];

/** CLOCK_MONOTONIC in ms: one clock for every process of the machine, so latencies cross processes. */
export const monotonicMs = (): number => Number(process.hrtime.bigint() / 1000n) / 1000;
