/** @tidemark/engine: storage, write path, HLC, serving, apply, digests and the sync client. */
export { syncFromPeer$, type SyncEvent, type SyncOptions } from './client';
export type { AppliedBatch, OriginCounts } from './apply';
export { BackfillGate } from './backfill-gate';
export { WHOLE_LINEAGE } from './origin-prefixes';
export { DigestAccumulator, digestsEqual } from './digest';
export {
  isTidemarkError,
  MalformedBatchError,
  StaleFilterError,
  TidemarkError,
  type TidemarkErrorCode,
} from './errors';
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
  createPrivateDirectory,
  createPrivateFile,
  DATABASE_LOCATOR_FILE,
  databaseLocatorOf,
  Library,
  LIBRARY_FILE,
  readDatabaseLocator,
  writeDatabaseLocator,
  type CreateLibraryOptions,
  type LibraryIdentity,
  type OpenLibraryOptions,
} from './library';
export { deviceIdOf, fingerprintOf } from './membership/device-identity';
export {
  createInvite,
  readInvites,
  refuseUnlessInviteOpen,
  redeemInvite,
  revokeInvite,
  type InviteRecord,
  type InviteRedemption,
  type NewInvite,
} from './membership/invites';
export {
  addMembers,
  readActiveMembers,
  readDeviceName,
  readMembers,
  removeMember,
  type Member,
  type NewMember,
} from './membership/members';
export {
  migrateLegacyMembers,
  readLibraryRoot,
  readMembershipChanges,
  setLibraryRoot,
  signGenesis,
  signMemberAdd,
  signMemberRemove,
  signMemberRename,
  type SpentInvite,
} from './membership/membership-writes';
export { signerFromKey, type MembershipSigner, type SignedChange } from './membership/signed-change';
export {
  forgetSkippedOwnRows,
  readSkippedRows,
  type SkippedRows,
  type SkipReason,
} from './membership/skipped-rows';
export { type PeerClockOffset } from './peer-clocks';
export { type PeerHead } from './peer-heads';
export {
  createSelfSignedCertificate,
  toPem,
  type KeyAndCertificate,
} from './membership/self-signed-certificate';
export { compareWithPeer, type DigestSide, type TypeComparison } from './compare-with-peer';
export { recordDigestChecks, type DigestCheck } from './digest-checks';
export { readCollections } from './reads/collections';
export { readDigestChecks } from './reads/digest-checks';
export { type DigestOptions, readDigest } from './reads/digests';
export {
  readEntriesOfLocation,
  readEntryAt,
  readEntryPlaces,
  readEntryUuidsAt,
  readEntryStatePagesOfLocation,
  readEntryStatesOfLocation,
} from './reads/entries';
export { compareUtf8 } from './reads/utf8-order';
export type { EntryPlace, EntryState, EntryStateReadOptions } from './reads/entries';
export {
  type EntryFileId,
  forgetEntryFileIds,
  readEntriesByInode,
  recordEntryFileIds,
} from './entry-file-ids';
export {
  checkLibraryHealth,
  type HealthCheckOptions,
  type HealthFinding,
  type HealthSeverity,
} from './reads/health';
export { readLocationsOfDevice } from './reads/locations';
export { readPeerClocks } from './reads/peer-clocks';
export { readRecordsNamed, type NamedResourceName } from './reads/named';
export { type PagedReadOptions } from './reads/paging';
export { readHeldUuids, readRecord, readRecords, readTombstones } from './reads/records';
export { type ReadScope } from './reads/scope';
export {
  readPeerHeads,
  readResourceHeads,
  readRowCountsByOwner,
  readWatermarks,
  type RowCount,
} from './reads/sync-state';
export {
  countAssignmentsOfDeletedTags,
  readAssignmentsOfDeletedTags,
  readTagAssignments,
  readTags,
  type TagWithAssignments,
} from './reads/tags';
export { unwrapRecord, wrapRecord } from './records';
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
export { DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, type ResourceCursor } from './serve';
export { LibrarySyncService, type LibrarySyncServiceOptions, type StreamStateOptions } from './sync-service';
export { DEFAULT_RELAY_HOLD_MS } from './relay-hold-back';
export { type SyncTransport } from './transport';
export {
  hasControlCharacter,
  isUuid,
  MAX_BYTES,
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  MAX_TOMBSTONE_WIRE_BYTES,
  maxRecordWireBytes,
} from './validate';
export { resetWatermarks, type ResourceWatermark } from './watermarks';
export { type WriteTransaction } from './write-path';
export { contentUuidOf, entryUuidOf, stableUuid, tagAssignmentUuidOf } from './stable-ids';
export { inspectLibraryFile, type LibraryFileShape } from './store/inspect-file';
export { type StoreKind } from './store/dialect';
export { DEFAULT_MAX_CONNECTIONS, isDatabaseUrl, parseDatabaseUrl } from './store/postgres-database';
export {
  COMMIT_ID_WORK,
  commitIdCost,
  type CommitIdCost,
  type CommitIdWork,
  type CommitIdWorkTotal,
} from './commit-id-cost';
