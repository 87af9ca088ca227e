import type { MethodDefinition } from '@grpc/grpc-js';
import { StateBatch, SyncServiceService } from '@tidemark/proto';

/** A request as received: decoded, or the reason it could not be; `size` is its length in bytes. */
export type Decoded<T> = (
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string }
) & { readonly size: number };

/**
 * The generated decoders keep 64-bit fields as JavaScript numbers and refuse a value of 2^53 or
 * more with this message, which names neither the field nor the rule. It is restated in the
 * protocol's terms (docs/protocol.md, Errors) by the methods whose requests have such fields.
 */
const UNSAFE_INTEGER = 'Value is larger than Number.MAX_SAFE_INTEGER';
/** 2^53 written out, for messages. */
const TWO_TO_THE_53 = '2^53 = 9,007,199,254,740,992';

/**
 * Left alone, grpc-js answers a request it cannot decode with INTERNAL, which reads as a bug in
 * this node. Bytes that are not a valid message are the caller's mistake, so decoding is moved
 * into the handlers, which answer INVALID_ARGUMENT naming the message type, or `tooLarge` when
 * a 64-bit field was 2^53 or more.
 */
export function lenient<Req, Res>(
  method: MethodDefinition<Req, Res>,
  typeName: string,
  tooLarge?: string,
): MethodDefinition<Decoded<Req>, Res> {
  return {
    ...method,
    requestDeserialize: (bytes: Buffer): Decoded<Req> => {
      try {
        return { ok: true, value: method.requestDeserialize(bytes), size: bytes.length };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (tooLarge !== undefined && reason === UNSAFE_INTEGER) {
          return { ok: false, error: tooLarge, size: bytes.length };
        }
        return {
          ok: false,
          error: `request is not a valid tidemark.sync.v1.${typeName}: ${reason}`,
          size: bytes.length,
        };
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
  handshake: lenient(
    SyncServiceService.handshake,
    'HandshakeRequest',
    `a 64-bit integer of the request is 2^53 or more, which no node holds (they stay below ${TWO_TO_THE_53})`,
  ),
  streamState: {
    ...lenient(
      SyncServiceService.streamState,
      'StateRequest',
      // The decoder names no field: a held prefix's seq (an off-by-one on "never send me my own
      // rows", 2^53 - 1) was reported as the cursor's own seq, which may have been 0.
      `a cursor seq or a held prefix seq is 2^53 or more, which no node issues (cursor seqs stay below ${TWO_TO_THE_53}; the largest held prefix seq is 2^53 - 1, "everything")`,
    ),
    responseSerialize: serializeBatch,
  },
  digest: lenient(SyncServiceService.digest, 'DigestRequest'),
} as const;
