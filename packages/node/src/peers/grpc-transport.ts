import * as grpc from '@grpc/grpc-js';
import {
  DEFAULT_BATCH_SIZE,
  MalformedBatchError,
  MAX_BATCH_SIZE,
  MAX_TOMBSTONE_WIRE_BYTES,
  maxRecordWireBytes,
  resourceNameOf,
  SyncTransport,
} from '@tidemark/engine';
import {
  DigestRequest,
  DigestResponse,
  HandshakeRequest,
  HandshakeResponse,
  StateBatch,
  StateRequest,
  SyncServiceClient,
  SyncServiceService,
} from '@tidemark/proto';
import { parseHostPort } from '../address';
import { DecodeAhead, DecodeAheadLimits } from './decode-ahead';
import { RAW_MESSAGES_AHEAD, withObjectReadAhead } from './read-ahead';
import { CLIENT_OPTIONS, MAX_RECEIVED_BATCH_BYTES } from '../grpc/grpc-options';
import { fromGrpcError } from '../grpc/grpc-status';
import { ClientTls, explainTlsFailure, securedChannel, SecuredChannel } from '../tls/client-security';

/**
 * Batches decoded ahead of the engine. One is enough to take decoding off the engine's path (it
 * happens while the engine waits on SQLite); 2 or 4 measured no faster and ~30-40 MB heavier on
 * a 1M-entry backfill. Only while batches are small: a 5,000-entry batch of ordinary rows is
 * ~1 MB on the wire; one of rows at their field bounds (up to 20 MiB) is decoded when the
 * engine asks for it, so it is held decoded once (the engine's read ahead), not twice.
 */
const DECODE_AHEAD: DecodeAheadLimits = { messages: 1, maxMessageBytes: 2 * 1024 * 1024 };

/** A handshake reads eight heads; a peer that cannot answer in this time is as good as down. */
const HANDSHAKE_DEADLINE_MS = 30_000;
/** A digest hashes every row of the requested types, which takes a while on a big library. */
const DIGEST_DEADLINE_MS = 10 * 60_000;

function deadlineIn(ms: number): grpc.Deadline {
  return new Date(Date.now() + ms);
}

/**
 * The engine's SyncTransport over a gRPC channel to one peer. Every failure surfaces as a
 * TidemarkError: transport trouble as UNAVAILABLE (retry with backoff), answers from the peer
 * with the code its status stands for.
 */
export class GrpcSyncTransport implements SyncTransport {
  private readonly client: SyncServiceClient;
  private readonly channel: SecuredChannel;
  /** The batch sizes the peer advertised at its last handshake on this transport. */
  private batchSizes: { readonly default: number; readonly max: number } | undefined;

  /**
   * `{ insecure: true }` dials plaintext (callers allow it on loopback only); `{ tls }` dials
   * mutual TLS, presenting this device's certificate and accepting only a pinned member's.
   */
  constructor(
    readonly address: string,
    options: { readonly insecure: true } | { readonly insecure?: false; readonly tls: ClientTls },
  ) {
    parseHostPort(address, 'peer address');
    this.channel = securedChannel(options.insecure ? undefined : options.tls);
    this.client = new SyncServiceClient(address, this.channel.credentials, {
      ...CLIENT_OPTIONS,
      ...this.channel.options,
    });
  }

  handshake(request: HandshakeRequest): Promise<HandshakeResponse> {
    return new Promise<HandshakeResponse>((resolve, reject) => {
      const call = this.client.handshake(
        request,
        new grpc.Metadata(),
        { deadline: deadlineIn(HANDSHAKE_DEADLINE_MS) },
        (error, response) => {
          if (error) {
            reject(explainTlsFailure(fromGrpcError(error, this.address), this.channel));
            return;
          }
          // The device id in the answer is only a claim; over TLS it must be the certificate's
          // of the connection that carried this very answer.
          this.settleServed(
            call,
            () => {
              this.batchSizes = { default: response.defaultBatchSize, max: response.maxBatchSize };
              resolve(response);
            },
            reject,
            response.deviceId,
          );
        },
      );
    });
  }

  digest(request: DigestRequest): Promise<DigestResponse> {
    return new Promise((resolve, reject) => {
      const call = this.client.digest(
        request,
        new grpc.Metadata(),
        { deadline: deadlineIn(DIGEST_DEADLINE_MS) },
        (error, response) =>
          error
            ? reject(fromGrpcError(error, this.address))
            : this.settleServed(call, () => resolve(response), reject),
      );
    });
  }

  private settleServed(
    call: grpc.ClientUnaryCall,
    resolve: () => void,
    reject: (error: unknown) => void,
    claimedDeviceId?: string,
  ): void {
    try {
      this.channel.checkServedBy(call, this.address, claimedDeviceId);
      resolve();
    } catch (error) {
      reject(error);
    }
  }

  /**
   * Batches are pulled through the call's Readable, so a slow apply stops reading, HTTP/2 flow
   * control fills up, and the server's write() starts returning false: backpressure end to end.
   *
   * grpc-js reads messages ahead into the Readable up to its object-mode high-water mark, here
   * RAW_MESSAGES_AHEAD (read-ahead.ts). The call yields raw bytes, and DecodeAhead decodes at
   * most DECODE_AHEAD of them ahead of the engine: decoded, ordinary rows take 5-10x their bytes
   * (measured: B's peak RSS on a 1M-entry backfill fell from 499 MB to ~345 MB). So a stream
   * holds, ahead of the batches being applied: one message as bytes (or being assembled), one
   * decoded in the engine's next read, and one more decoded only when messages are small.
   */
  async *streamState(request: StateRequest, signal?: AbortSignal): AsyncGenerator<StateBatch> {
    if (signal?.aborted) return;
    const method = SyncServiceService.streamState;
    const limits = this.batchLimits(request);
    const call = withObjectReadAhead(RAW_MESSAGES_AHEAD, () =>
      this.client.makeServerStreamRequest<StateRequest, Buffer>(
        method.path,
        method.requestSerialize,
        (bytes: Buffer) => bytes,
        request,
      ),
    );
    // grpc-js emits the final status as an 'error' event even after we let go of the stream
    // (e.g. our own cancel below); DecodeAhead listens, so it is never an uncaught exception.
    const batches = new DecodeAhead(call, (bytes) => decodeBatch(bytes, this.address, limits), DECODE_AHEAD);
    const cancel = () => call.cancel();
    let served = false;
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      for (let batch = await batches.next(); batch; batch = await batches.next()) {
        if (signal?.aborted) return;
        // A stream stays on the connection it started on: checking its first batch covers it.
        if (!served) {
          this.channel.checkServedBy(call, this.address);
          served = true;
        }
        yield batch;
      }
    } catch (error) {
      // Our own cancel shows up as CANCELLED: after an abort the iteration just ends.
      if (signal?.aborted) return;
      if (error instanceof MalformedBatchError) throw error;
      throw fromGrpcError(error, this.address);
    } finally {
      signal?.removeEventListener('abort', cancel);
      // Ends the call when the consumer left early; a no-op when it already finished.
      call.cancel();
    }
  }

  close(): void {
    this.client.close();
  }

  /**
   * What one batch of this request may hold: the rows asked for (the server's default for 0,
   * clamped to its advertised maximum and to the protocol's), and the bytes those rows can take
   * at their field bounds, never more than MAX_RECEIVED_BATCH_BYTES. A peer sending more is
   * hostile or broken; without the check it could push a million tombstones in one message.
   */
  private batchLimits(request: StateRequest): BatchLimits {
    const advertised = this.batchSizes;
    const requested = request.batchSize > 0 ? request.batchSize : advertised?.default || DEFAULT_BATCH_SIZE;
    const rows = Math.min(requested, advertised?.max || MAX_BATCH_SIZE, MAX_BATCH_SIZE);
    let perRow = MAX_TOMBSTONE_WIRE_BYTES;
    for (const cursor of request.cursors) {
      try {
        perRow = Math.max(perRow, maxRecordWireBytes(resourceNameOf(cursor.resourceType)));
      } catch {
        // An unknown type is refused by the server; it bounds nothing here.
      }
    }
    return { rows, bytes: Math.min(rows * perRow + BATCH_OVERHEAD_BYTES, MAX_RECEIVED_BATCH_BYTES) };
  }
}

/**
 * Checkpoint (with the origin prefixes it covers, one per lineage the server knows), counters
 * and flags of a batch: generously.
 */
const BATCH_OVERHEAD_BYTES = 1024 * 1024;

interface BatchLimits {
  readonly rows: number;
  readonly bytes: number;
}

/**
 * A message that is not a StateBatch, or is larger than the request allows, is the peer's fault,
 * like any other malformed batch. The size is checked before decoding, which takes 5-10x the
 * bytes in memory.
 */
function decodeBatch(bytes: Buffer, address: string, limits: BatchLimits): StateBatch {
  if (bytes.length > limits.bytes) {
    throw new MalformedBatchError(
      `protocol error: ${address} sent a ${bytes.length}-byte batch; ${limits.rows} rows take at most ${limits.bytes}`,
    );
  }
  let batch: StateBatch;
  try {
    batch = StateBatch.decode(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new MalformedBatchError(`${address} sent a StateBatch that does not decode: ${reason}`);
  }
  const rows = batch.records.length + batch.tombstones.length;
  if (rows > limits.rows) {
    throw new MalformedBatchError(
      `protocol error: ${address} sent a batch of ${rows} rows and tombstones; at most ${limits.rows} were asked for`,
    );
  }
  return batch;
}
