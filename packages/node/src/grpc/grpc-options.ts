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

/** Largest batch message accepted; MAX_BATCH_SIZE records stay far below it. */
export const MAX_BATCH_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Requests are a few cursors; anything near this is garbage or abuse. */
export const MAX_REQUEST_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * HTTP/2 streams one connection may have open at once. A client needs about 17 (see
 * security/call-guard.ts); the cap keeps one connection from pinning unbounded server state.
 */
export const MAX_CONCURRENT_STREAMS_PER_CONNECTION = 100;

export const SERVER_OPTIONS: ChannelOptions = {
  ...KEEPALIVE,
  'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS_PER_CONNECTION,
  'grpc.max_send_message_length': MAX_BATCH_MESSAGE_BYTES,
  'grpc.max_receive_message_length': MAX_REQUEST_MESSAGE_BYTES,
};

export const CLIENT_OPTIONS: ChannelOptions = {
  ...KEEPALIVE,
  'grpc.max_receive_message_length': MAX_BATCH_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_REQUEST_MESSAGE_BYTES,
};
