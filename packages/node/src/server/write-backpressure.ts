import type { ServerWritableStream } from '@grpc/grpc-js';

/**
 * Batches a stream may hold beyond the one being sent. The Writable's own limit (write() false)
 * is 16 objects, up to 16 full batches per stream; two keep a fast reader busy with far less
 * memory per peer.
 */
export const MAX_BUFFERED_BATCHES = 2;

const RELEASING_EVENTS = ['drain', 'cancelled', 'close', 'error', 'finish'] as const;

/**
 * Flow control for a server stream. The engine awaits `ready()` after every batch and reads the
 * next page only when it resolves: not while the stream wants a 'drain' (write() returned false),
 * and not while MAX_BUFFERED_BATCHES are still waiting to go out. A slow reader therefore stalls
 * the producer through HTTP/2 flow control instead of growing the server's memory. A cancelled
 * or closed call never drains, so it releases the wait too; the producer then finds itself
 * unsubscribed and stops.
 *
 * Whether to wait is read from the stream each time (`writableNeedDrain`, `writableLength`), never
 * remembered from write()'s return value: the streams of one call share this object, and the last
 * message's callback wakes them all at once, so the stream's 'drain' fires before any of them is
 * listening again. A flag cleared only by a 'drain' that someone heard stayed set, and every
 * stream of the call waited forever for a 'drain' that had already happened.
 */
export class WriteBackpressure<T> {
  private waiters: (() => void)[] = [];

  constructor(private readonly call: ServerWritableStream<unknown, T>) {}

  write(message: T): void {
    this.call.write(message, () => this.wake());
  }

  async ready(): Promise<void> {
    while (this.mustWait()) await this.progress();
  }

  private mustWait(): boolean {
    const call = this.call;
    if (call.cancelled || call.destroyed || call.writableEnded) return false;
    return call.writableNeedDrain || call.writableLength >= MAX_BUFFERED_BATCHES;
  }

  /** Resolves on the next sign of progress: a message went out, the buffer drained, or the call ended. */
  private progress(): Promise<void> {
    return new Promise<void>((resolve) => {
      const call = this.call;
      const handlers = RELEASING_EVENTS.map((event) => [event, () => done()] as const);
      const done = () => {
        for (const [event, handler] of handlers) call.off(event, handler);
        resolve();
      };
      for (const [event, handler] of handlers) call.once(event, handler);
      this.waiters.push(done);
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}
