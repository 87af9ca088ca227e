import type { ChannelOptions } from '@grpc/grpc-js';

/**
 * Pings every 20 s, also on idle connections, and gives up after 10 s without an answer: a peer
 * that vanished without closing its socket (power loss, NAT timeout) is noticed within ~30 s
 * instead of leaving a follow stream waiting forever.
 */
const KEEPALIVE: ChannelOptions = {
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
};

/** Largest batch message a server sends; the engine cuts pages at 16 MiB (serve.ts). */
export const MAX_BATCH_MESSAGE_BYTES = 64 * 1024 * 1024;
/**
 * Largest batch message a client reads at all, enforced by grpc-js on the length prefix before
 * the message is buffered. Each stream then allows only what its requested rows can take
 * (grpc-transport.ts), which is usually much less.
 */
export const MAX_RECEIVED_BATCH_BYTES = 20 * 1024 * 1024;
/**
 * Largest request a server reads, from anyone (grpc-js enforces it on the length prefix, before
 * the message is buffered). The largest legitimate one is a member's StateRequest listing held
 * origin prefixes: 9 cursors of at most 1,000 prefixes of ~95 bytes, ~0.9 MiB.
 */
export const MAX_REQUEST_MESSAGE_BYTES = 1024 * 1024;

/**
 * Largest request a caller that has not authenticated may send: a PairRequest is at most ~17 KiB
 * (a 16 KiB certificate). grpc-js has one request limit per server, so the 64 KiB is enforced on
 * the decoded request's size: by Pair, and by the call guard for every SyncService call of a
 * caller that is not a member (before anything else is checked).
 */
export const MAX_UNAUTHENTICATED_REQUEST_BYTES = 64 * 1024;

/** How long the server keeps connections open; see `serverOptions`. */
export interface ConnectionLimits {
  /** A connection with no call open for this long is closed (GOAWAY). */
  readonly idleMs: number;
  /**
   * Every connection is closed after this long (GOAWAY, then `maxAgeGraceMs` for its calls to
   * end; grpc-js adds up to 10% jitter): a caller holding a stream open forever (a health watch,
   * say) cannot pin a connection, and a member's follow streams reconnect and resume from
   * their cursors.
   */
  readonly maxAgeMs: number;
  readonly maxAgeGraceMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  idleMs: 5 * 60_000,
  maxAgeMs: 60 * 60_000,
  maxAgeGraceMs: 60_000,
};

/**
 * HTTP/2 streams one connection may have open at once. A client needs about 17 (see
 * security/call-guard.ts); the cap keeps one connection from pinning unbounded server state.
 */
export const MAX_CONCURRENT_STREAMS_PER_CONNECTION = 100;

export function serverOptions(limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS): ChannelOptions {
  return {
    ...KEEPALIVE,
    'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS_PER_CONNECTION,
    'grpc.max_send_message_length': MAX_BATCH_MESSAGE_BYTES,
    'grpc.max_receive_message_length': MAX_REQUEST_MESSAGE_BYTES,
    'grpc.max_connection_idle_ms': limits.idleMs,
    'grpc.max_connection_age_ms': limits.maxAgeMs,
    'grpc.max_connection_age_grace_ms': limits.maxAgeGraceMs,
  };
}

export const SERVER_OPTIONS: ChannelOptions = serverOptions();

export const CLIENT_OPTIONS: ChannelOptions = {
  ...KEEPALIVE,
  'grpc.max_receive_message_length': MAX_RECEIVED_BATCH_BYTES,
  'grpc.max_send_message_length': MAX_REQUEST_MESSAGE_BYTES,
};
