/** @tidemark/engine: storage, write path, HLC, serving, apply, digests and the sync client. */
export { syncFromPeer$, type SyncEvent, type SyncOptions } from './client';
export { DigestAccumulator, digestResource, digestsEqual } from './digest';
export {
  HlcDriftError,
  isTidemarkError,
  MalformedBatchError,
  TidemarkError,
  type TidemarkErrorCode,
} from './errors';
export { resourceHead, resourceHeads, rowCountsByOwner } from './heads';
export {
  compareHlc,
  decodeHlc,
  DEFAULT_MAX_DRIFT_MS,
  encodeHlc,
  HybridLogicalClock,
  type HlcOptions,
  type HlcStamp,
} from './hlc';
export {
  Library,
  LIBRARY_FILE,
  type CreateLibraryOptions,
  type LibraryIdentity,
  type OpenLibraryOptions,
} from './library';
export { InviteStore, type NewInvite } from './membership/invites';
export { MemberStore, type Member, type NewMember } from './membership/members';
export { PeerHeadStore, type PeerHead } from './peer-heads';
export { recordFromRow, unwrapRecord, wrapRecord } from './records';
export {
  DEVICE_OWNED,
  isResourceName,
  parseResourceName,
  RESOURCE_NAMES,
  resourceNameOf,
  resourceTypeOf,
  type AnyRecord,
  type FieldsOf,
  type RecordOf,
  type ResourceName,
} from './resource-types';
export {
  countAfter,
  DEFAULT_BATCH_SIZE,
  MAX_BATCH_SIZE,
  readPage,
  type ResourceCursor,
  type ResourcePage,
} from './serve';
export { LibraryDatabase, type SqlRunner } from './store/library-database';
export { LibrarySyncService, type StreamStateOptions } from './sync-service';
export { type SyncTransport } from './transport';
export { isUuid } from './validate';
export { ResourceWatermarkStore, type ResourceWatermark } from './watermarks';
export { WriteTransaction } from './write-path';
export { contentUuidOf, entryUuidOf, stableUuid, tagAssignmentUuidOf } from './stable-ids';
export { inspectLibraryFile, type LibraryFileShape } from './store/inspect-file';
