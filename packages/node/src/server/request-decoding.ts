import type { MethodDefinition } from '@grpc/grpc-js';
import { StateBatch, SyncServiceService } from '@tidemark/proto';

/** A request as received: decoded, or the reason it could not be. */
export type Decoded<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/**
 * Left alone, grpc-js answers a request it cannot decode with INTERNAL, which reads as a bug in
 * this node. Bytes that are not a valid message are the caller's mistake, so decoding is moved
 * into the handlers, which answer INVALID_ARGUMENT naming the message type.
 */
export function lenient<Req, Res>(
  method: MethodDefinition<Req, Res>,
  typeName: string,
): MethodDefinition<Decoded<Req>, Res> {
  return {
    ...method,
    requestDeserialize: (bytes: Buffer): Decoded<Req> => {
      try {
        return { ok: true, value: method.requestDeserialize(bytes) };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        return { ok: false, error: `request is not a valid tidemark.sync.v1.${typeName}: ${reason}` };
      }
    },
    requestSerialize: (request: Decoded<Req>): Buffer => {
      if (!request.ok) throw new Error(request.error);
      return method.requestSerialize(request.value);
    },
  };
}

/**
 * The generated serializer copies each encoded batch (`Buffer.from(Uint8Array)`), a megabyte
 * per 5,000 entries; the encoder's result is already a fresh array, so a Buffer view suffices.
 */
function serializeBatch(batch: StateBatch): Buffer {
  const bytes = StateBatch.encode(batch).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * SyncServiceService with requests decoded leniently (see `lenient`) and batches serialized
 * without a copy (see `serializeBatch`). Same paths, same wire format.
 */
export const LenientSyncService = {
  handshake: lenient(SyncServiceService.handshake, 'HandshakeRequest'),
  streamState: {
    ...lenient(SyncServiceService.streamState, 'StateRequest'),
    responseSerialize: serializeBatch,
  },
  digest: lenient(SyncServiceService.digest, 'DigestRequest'),
} as const;
