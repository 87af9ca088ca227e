/**
 * @tidemark/proto: the tidemark.sync.v1 contract. Everything here is generated from `proto/` by
 * buf + ts-proto into `src/gen` (never edited by hand); this file only re-exports it.
 */
import * as path from 'node:path';

export * from './gen/tidemark/sync/v1/pairing';
export * from './gen/tidemark/sync/v1/records';
export * from './gen/tidemark/sync/v1/sync';
// Both generated files declare these helpers; they are identical, so name one to resolve the clash.
export type { DeepPartial, Exact, MessageFns } from './gen/tidemark/sync/v1/sync';
export { protobufFileName, protobufPackage } from './gen/tidemark/sync/v1/sync';

/** Directory holding the `.proto` sources (for reflection and for clients in other languages). */
export const PROTO_ROOT = path.join(__dirname, '..', 'proto');
/** The `.proto` files of the sync service, relative to PROTO_ROOT. */
export const PROTO_FILES = [
  'tidemark/sync/v1/sync.proto',
  'tidemark/sync/v1/records.proto',
  'tidemark/sync/v1/pairing.proto',
] as const;
/** Fully qualified name of the sync service. */
export const SYNC_SERVICE_NAME = 'tidemark.sync.v1.SyncService';
/** Fully qualified name of the pairing service. */
export const PAIRING_SERVICE_NAME = 'tidemark.sync.v1.PairingService';
