import * as grpc from '@grpc/grpc-js';
import { isTidemarkError, LibrarySyncService, TidemarkError } from '@tidemark/engine';
import {
  DigestRequest,
  DigestResponse,
  HandshakeRequest,
  HandshakeResponse,
  StateBatch,
  StateRequest,
} from '@tidemark/proto';
import type { Logger } from 'pino';
import { Subscription } from 'rxjs';
import { toGrpcStatus } from '../grpc/grpc-status';
import { Decoded } from './request-decoding';
import {
  Caller,
  CallGuard,
  insecureGuard,
  MAX_DIGESTS_PER_CALLER,
  MAX_STREAMS_PER_CALLER,
} from '../security/call-guard';
import { WriteBackpressure } from './write-backpressure';

type StateCall = grpc.ServerWritableStream<Decoded<StateRequest>, StateBatch>;

/** Handlers for LenientSyncService: requests arrive as Decoded<T>. */
export interface SyncServiceImplementation extends grpc.UntypedServiceImplementation {
  handshake: grpc.handleUnaryCall<Decoded<HandshakeRequest>, HandshakeResponse>;
  streamState: grpc.handleServerStreamingCall<Decoded<StateRequest>, StateBatch>;
  digest: grpc.handleUnaryCall<Decoded<DigestRequest>, DigestResponse>;
}

export interface SyncServiceHandlers {
  readonly implementation: SyncServiceImplementation;
  /** Streams currently being served. */
  readonly activeStreams: number;
  /**
   * Ends every open stream with UNAVAILABLE so that peers reconnect elsewhere or later. Batches
   * already written are delivered first; the page being read is dropped (its cursor never
   * reached the client, so nothing is skipped).
   */
  endStreams(details: string): void;
  /** Ends, with UNAUTHENTICATED, the streams of callers the guard no longer allows (removed members). */
  cutOffRevoked(): void;
}

/** Told of every batch handed to a caller's stream (the node's served-rows metric). */
export type BatchServed = (batch: StateBatch) => void;

function fail(call: StateCall, status: { code: grpc.status; details: string }): void {
  if (call.cancelled || call.destroyed || call.writableEnded) return;
  // 'error' on a grpc-js server stream sets the final status and ends the call.
  call.emit('error', status);
}

/** Logs what the server answers: our own faults loudly, a caller's bad request quietly. */
function logFailure(
  logger: Logger,
  method: string,
  error: unknown,
  status: { code: grpc.status; details: string },
) {
  const fields = { method, code: grpc.status[status.code], details: status.details };
  if (status.code === grpc.status.INTERNAL && !isTidemarkError(error)) {
    logger.error({ ...fields, err: error }, 'request failed');
  } else {
    logger.debug(fields, 'request rejected');
  }
}

/**
 * gRPC handlers for tidemark.sync.v1.SyncService over the engine's LibrarySyncService. The
 * engine validates requests and throws TidemarkErrors; this edge turns them into statuses.
 */
export function createSyncServiceHandlers(
  service: LibrarySyncService,
  logger: Logger,
  guard: CallGuard = insecureGuard(),
  served: BatchServed = () => undefined,
): SyncServiceHandlers {
  const active = new Map<StateCall, Subscription>();
  const callers = new Map<StateCall, Caller>();

  /** Calls in flight per caller key, for methods capped per caller. */
  const inFlight = new Map<string, number>();

  const unary =
    <Req extends { libraryId: string }, Res>(
      method: string,
      run: (request: Req, signal: AbortSignal) => Promise<Res>,
      claimedDevice: (request: Req) => string = () => '',
      maxPerCaller = Infinity,
    ): grpc.handleUnaryCall<Decoded<Req>, Res> =>
    (call, callback) => {
      const decoded = call.request;
      // A caller that goes away stops the work it asked for (a digest scan, page by page).
      const cancelled = new AbortController();
      call.on('cancelled', () => cancelled.abort());
      let held: string | undefined;
      const response = decoded.ok
        ? Promise.resolve().then(() => {
            const caller = guard.admit(
              call,
              decoded.value.libraryId,
              claimedDevice(decoded.value),
              decoded.size,
            );
            if (maxPerCaller !== Infinity) {
              const key = `${method} ${caller.key}`;
              const open = inFlight.get(key) ?? 0;
              if (open >= maxPerCaller) {
                throw new TidemarkError(
                  'RATE_LIMITED',
                  `this caller already has ${open} ${method} calls running (at most ${maxPerCaller}); wait for them`,
                );
              }
              inFlight.set(key, open + 1);
              held = key;
            }
            return run(decoded.value, cancelled.signal);
          })
        : Promise.reject(new TidemarkError('INVALID_ARGUMENT', decoded.error));
      // The slot is held until the work ends, not the call: a cancelled scan counts until it stops.
      const release = () => {
        if (held === undefined) return;
        const left = (inFlight.get(held) ?? 1) - 1;
        if (left > 0) inFlight.set(held, left);
        else inFlight.delete(held);
      };
      response.then(
        (response) => {
          release();
          callback(null, response);
        },
        (error: unknown) => {
          release();
          const status = toGrpcStatus(error);
          logFailure(logger, method, error, status);
          callback(status);
        },
      );
    };

  const streamState: SyncServiceImplementation['streamState'] = (call) => {
    const flow = new WriteBackpressure<StateBatch>(call);
    const decoded = call.request;
    const end = (error?: unknown) => {
      active.delete(call);
      callers.delete(call);
      if (error === undefined) {
        if (!call.cancelled && !call.writableEnded) call.end();
        return;
      }
      const status = toGrpcStatus(error);
      logFailure(logger, 'StreamState', error, status);
      fail(call, status);
    };
    if (!decoded.ok) return end(new TidemarkError('INVALID_ARGUMENT', decoded.error));
    const request = decoded.value;
    let subscription: Subscription;
    try {
      const caller = guard.admit(call, request.libraryId, request.deviceId, decoded.size);
      const open = [...callers.values()].filter((other) => other.key === caller.key).length;
      if (open >= MAX_STREAMS_PER_CALLER) {
        throw new TidemarkError(
          'RATE_LIMITED',
          `this caller already has ${open} open streams (at most ${MAX_STREAMS_PER_CALLER}); close some first`,
        );
      }
      callers.set(call, caller);
      subscription = service.streamState(request, { backpressure: () => flow.ready() }).subscribe({
        next: (batch) => {
          flow.write(batch);
          served(batch);
        },
        error: end,
        complete: () => end(),
      });
    } catch (error) {
      // Request validation (library id, cursors, resource types) throws before streaming.
      end(error);
      return;
    }
    // The caller may have gone already, in which case 'cancelled' was emitted before we listened.
    if (call.cancelled) subscription.unsubscribe();
    if (subscription.closed) {
      callers.delete(call);
      return;
    }
    active.set(call, subscription);
    call.on('cancelled', () => {
      active.delete(call);
      callers.delete(call);
      subscription.unsubscribe();
    });
    logger.debug(
      { caller: request.deviceId || call.getPeer(), types: request.cursors.length, follow: request.follow },
      'stream opened',
    );
  };

  return {
    implementation: {
      handshake: unary(
        'Handshake',
        (request: HandshakeRequest) => service.handshake(request),
        (request) => request.deviceId,
      ),
      streamState,
      digest: unary(
        'Digest',
        (request: DigestRequest, signal) => service.digest(request, { signal }),
        () => '',
        MAX_DIGESTS_PER_CALLER,
      ),
    },
    get activeStreams() {
      return active.size;
    },
    endStreams(details) {
      for (const [call, subscription] of active) {
        subscription.unsubscribe();
        fail(call, { code: grpc.status.UNAVAILABLE, details });
      }
      active.clear();
      callers.clear();
    },
    cutOffRevoked() {
      for (const [call, caller] of callers) {
        if (guard.stillAllowed(caller)) continue;
        logger.warn({ caller: caller.deviceId, host: caller.host }, 'member removed; cutting off its stream');
        active.get(call)?.unsubscribe();
        active.delete(call);
        callers.delete(call);
        fail(call, {
          code: grpc.status.UNAUTHENTICATED,
          details: `device ${caller.deviceId ?? caller.host} was removed from this library`,
        });
      }
    },
  };
}
