import { getDefaultHighWaterMark, setDefaultHighWaterMark } from 'node:stream';

/**
 * Messages grpc-js reads ahead into a StateBatch stream's Readable on its own: none. With a
 * high-water mark of 0 the Readable asks grpc-js for a message only when its reader finds it
 * empty, so DecodeAhead alone decides how far the stream reads ahead (one message for small
 * batches, none for large ones). With `tidemark node`'s process default (4, daemon-memory.ts)
 * a peer's 16-20 MiB messages would wait there four at a time.
 */
export const RAW_MESSAGES_AHEAD = 0;

/**
 * Calls `create` with Node's object-mode high-water mark at `messages`, and restores it after.
 * grpc-js builds a call's Readable synchronously inside makeServerStreamRequest with the
 * process default and offers no per-call setting; only that one Readable sees the value.
 */
export function withObjectReadAhead<T>(messages: number, create: () => T): T {
  const previous = getDefaultHighWaterMark(true);
  setDefaultHighWaterMark(true, messages);
  try {
    return create();
  } finally {
    setDefaultHighWaterMark(true, previous);
  }
}
