import {
  BackfillGate,
  isTidemarkError,
  Library,
  syncFromPeer$,
  SyncTransport,
  TidemarkError,
  TidemarkErrorCode,
} from '@tidemark/engine';
import { Observable, Subscription } from 'rxjs';
import { AntiEntropy, AntiEntropyPolicy, DEFAULT_ANTI_ENTROPY } from './anti-entropy';
import { backoffDelay, maxBackoffDelay } from './backoff';
import type { ReconnectPolicy } from '../config';
import type { PeerSessionEvent } from './events';
import { TypeRetries } from './type-retries';

export interface ClosableTransport extends SyncTransport {
  close(): void;
}

export interface PeerSessionOptions {
  /** "HOST:PORT" of the peer. */
  readonly peer: string;
  readonly library: Library;
  readonly batchSize: number;
  readonly reconnect: ReconnectPolicy;
  /** Opens a fresh connection for each attempt (closed when the attempt ends). */
  readonly connect: (peer: string) => ClosableTransport;
  readonly random?: () => number;
  /** Shared by the node's sessions: one peer at a time backfills each type. */
  readonly backfillGate?: BackfillGate;
  /** Send held prefixes to the peer (default true); see SyncOptions.originFilter. */
  readonly originFilter?: boolean;
  /** Digest comparisons with the peer after its backfill and at an interval. */
  readonly antiEntropy?: AntiEntropyPolicy;
}

/**
 * Rows per batch a session asks for when the config leaves it at 0. Each batch is one apply
 * transaction with fixed costs (watermark, sequence, commit), so a backfill runs faster with
 * batches larger than the server's default of 1,000; a resend after a crash is at most one batch.
 */
export const PEER_SESSION_BATCH_SIZE = 5_000;

/**
 * Failures that retrying soon cannot fix: the peer serves another library, does not know this
 * device, speaks another protocol, or is this very node. They wait the longest backoff so that
 * a misconfigured peer is retried (it may be fixed) without flooding the logs.
 */
export const NEEDS_OPERATOR: ReadonlySet<TidemarkErrorCode> = new Set<TidemarkErrorCode>([
  'LIBRARY_MISMATCH',
  'UNAUTHENTICATED',
  'UNSUPPORTED_VERSION',
  'INVALID_ARGUMENT',
]);

function asTidemarkError(error: unknown, peer: string): TidemarkError {
  if (isTidemarkError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TidemarkError('UNAVAILABLE', `sync with peer ${peer} failed: ${message}`, { cause: error });
}

interface Attempt {
  stop(): void;
}

/**
 * One connection's worth of session: the engine's backfill-then-follow over a fresh transport,
 * plus retries of rejected types. `onEnd` is called once, when the sync errors or the peer ends
 * the follow stream; never after `stop()`.
 */
function startAttempt(
  options: PeerSessionOptions & { random: () => number },
  emit: (event: PeerSessionEvent) => void,
  onEnd: (error: TidemarkError, peerDeviceId: string | undefined) => void,
): Attempt {
  const { peer, library, batchSize } = options;
  const transport = options.connect(peer);
  let peerDeviceId: string | undefined;
  let ended = false;
  // A container, so stop() is safe even before the sync below is subscribed (and then ends it).
  const main = new Subscription();

  const forward = (event: Extract<PeerSessionEvent, { kind: 'sync' }>['event']) => {
    if (peerDeviceId === undefined) return;
    emit({ kind: 'sync', peer, peerDeviceId, event });
    if (event.kind === 'type_failed') retries.failed(event.resourceType);
  };
  const retries = new TypeRetries({ ...options, transport, emit: forward });

  let antiEntropy: AntiEntropy | undefined;
  const startAntiEntropy = () => {
    if (peerDeviceId === undefined || antiEntropy) return;
    const id = peerDeviceId;
    antiEntropy = new AntiEntropy(
      library,
      transport,
      id,
      options.antiEntropy ?? DEFAULT_ANTI_ENTROPY,
      ({ results, differing }) => emit({ kind: 'digest_check', peer, peerDeviceId: id, results, differing }),
    );
    antiEntropy.start();
  };

  const stop = () => {
    ended = true;
    antiEntropy?.stop();
    retries.stop();
    main.unsubscribe();
    transport.close();
  };
  const finish = (error: unknown) => {
    if (ended) return;
    stop();
    onEnd(asTidemarkError(error, peer), peerDeviceId);
  };

  const sync = syncFromPeer$(library, transport, {
    follow: true,
    batchSize: batchSize || PEER_SESSION_BATCH_SIZE,
    backfillGate: options.backfillGate,
    originFilter: options.originFilter,
  }).subscribe({
    next: (event) => {
      if (event.kind === 'connected') {
        peerDeviceId = event.peerDeviceId;
        emit({ kind: 'connected', peer, peerDeviceId, event });
      } else {
        forward(event);
        if (event.kind === 'backfilled') startAntiEntropy();
      }
    },
    error: finish,
    // In follow mode the engine completes only when the peer ended every stream without an
    // error (e.g. it is shutting down): treat it like a dropped connection.
    complete: () => finish(new TidemarkError('UNAVAILABLE', `peer ${peer} ended the follow stream`)),
  });
  main.add(sync);
  return { stop };
}

/**
 * The session with one peer for as long as it is subscribed: connect, backfill, follow; on any
 * failure, reconnect after a jittered exponential backoff and resume from the per-type
 * watermarks (the engine reads them on every subscription). The backoff resets once a batch
 * applies, so a peer that restarts is picked up fast, and a peer that accepts the handshake but
 * fails every stream is not hammered.
 */
export function peerSession$(options: PeerSessionOptions): Observable<PeerSessionEvent> {
  const { peer, reconnect } = options;
  const random = options.random ?? Math.random;
  return new Observable<PeerSessionEvent>((subscriber) => {
    let stopped = false;
    let failures = 0;
    let attempt: Attempt | undefined;
    let timer: NodeJS.Timeout | undefined;

    const emit = (event: PeerSessionEvent) => {
      if (stopped) return;
      if (event.kind === 'sync' && event.event.kind === 'batch') failures = 0;
      subscriber.next(event);
    };

    const connect = () => {
      timer = undefined;
      if (stopped) return;
      emit({ kind: 'connecting', peer, attempt: failures + 1 });
      attempt = startAttempt({ ...options, random }, emit, (error, peerDeviceId) => {
        attempt = undefined;
        if (stopped) return;
        failures += 1;
        emit({ kind: 'disconnected', peer, peerDeviceId, error });
        const delayMs = NEEDS_OPERATOR.has(error.code)
          ? maxBackoffDelay(reconnect, random)
          : backoffDelay(failures, reconnect, random);
        emit({ kind: 'reconnect_scheduled', peer, attempt: failures + 1, delayMs, error });
        timer = setTimeout(connect, delayMs);
      });
    };

    connect();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      attempt?.stop();
    };
  });
}
