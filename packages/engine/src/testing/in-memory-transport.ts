import {
  DigestRequest,
  DigestResponse,
  HandshakeRequest,
  HandshakeResponse,
  StateBatch,
  StateRequest,
} from '@tidemark/proto';
import { TidemarkError } from '../errors';
import { LibrarySyncService } from '../sync-service';
import { SyncTransport } from '../transport';

export interface InMemoryTransportOptions {
  /** Batches the server may produce ahead of the client. Default 2. */
  readonly readAhead?: number;
  /**
   * Fault injection: called before each batch is handed to the client, with the number of
   * batches already delivered on this transport. Returning true cuts the connection there, as a
   * network failure would: the stream fails with UNAVAILABLE and the batch is never delivered.
   */
  readonly cutBefore?: (batch: StateBatch, delivered: number) => boolean;
}

/**
 * Joins a client engine to a serving engine inside one process. Every message is encoded to
 * protobuf bytes and decoded again, so tests exercise the wire format, not shared objects.
 */
export class InMemoryTransport implements SyncTransport {
  private delivered = 0;
  private queued = 0;
  private cut = false;

  constructor(
    private readonly server: LibrarySyncService,
    private readonly options: InMemoryTransportOptions = {},
  ) {}

  /** Batches the server produced that the client has not taken yet, over all open streams. */
  get queuedBatches(): number {
    return this.queued;
  }

  /** Batches handed to the client so far. */
  get deliveredBatches(): number {
    return this.delivered;
  }

  /** True once a `cutBefore` fault fired; further calls fail until `restore()`. */
  get isCut(): boolean {
    return this.cut;
  }

  restore(): void {
    this.cut = false;
  }

  async handshake(request: HandshakeRequest): Promise<HandshakeResponse> {
    this.assertConnected();
    const response = await this.server.handshake(
      HandshakeRequest.decode(HandshakeRequest.encode(request).finish()),
    );
    return HandshakeResponse.decode(HandshakeResponse.encode(response).finish());
  }

  async digest(request: DigestRequest): Promise<DigestResponse> {
    this.assertConnected();
    const response = await this.server.digest(DigestRequest.decode(DigestRequest.encode(request).finish()));
    return DigestResponse.decode(DigestResponse.encode(response).finish());
  }

  async *streamState(request: StateRequest, signal?: AbortSignal): AsyncGenerator<StateBatch> {
    this.assertConnected();
    const readAhead = this.options.readAhead ?? 2;
    const queue: Uint8Array[] = [];
    let finished = false;
    let failure: unknown;
    let wakeConsumer: (() => void) | undefined;
    // One per type stream waiting: the follow phase serves every type at once, and each waits
    // here after its batch. A single slot lost the first waiter when a second came.
    const producers: (() => void)[] = [];
    const wakeProducers = () => {
      for (const wake of producers.splice(0)) wake();
    };
    const decoded = StateRequest.decode(StateRequest.encode(request).finish());
    const subscription = this.server
      .streamState(decoded, {
        backpressure: async () => {
          while (queue.length >= readAhead && !finished) {
            await new Promise<void>((resolve) => producers.push(resolve));
          }
        },
      })
      .subscribe({
        next: (batch) => {
          queue.push(StateBatch.encode(batch).finish());
          this.queued += 1;
          wakeConsumer?.();
        },
        error: (error: unknown) => {
          failure = error;
          finished = true;
          wakeConsumer?.();
        },
        complete: () => {
          finished = true;
          wakeConsumer?.();
        },
      });
    const onAbort = () => {
      finished = true;
      this.queued -= queue.length;
      queue.length = 0;
      wakeConsumer?.();
    };
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        if (signal?.aborted) return;
        if (queue.length === 0) {
          if (finished) {
            if (failure) throw failure;
            return;
          }
          await new Promise<void>((resolve) => (wakeConsumer = resolve));
          wakeConsumer = undefined;
          continue;
        }
        const batch = StateBatch.decode(queue.shift()!);
        this.queued -= 1;
        wakeProducers();
        if (this.cut || this.options.cutBefore?.(batch, this.delivered)) {
          this.cut = true;
          throw new TidemarkError('UNAVAILABLE', 'in-memory transport cut (injected fault)');
        }
        this.delivered += 1;
        yield batch;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      subscription.unsubscribe();
      this.queued -= queue.length;
      queue.length = 0;
      wakeProducers();
    }
  }

  private assertConnected(): void {
    if (this.cut) throw new TidemarkError('UNAVAILABLE', 'in-memory transport is cut (injected fault)');
  }
}
