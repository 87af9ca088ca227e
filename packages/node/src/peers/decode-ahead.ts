import type { Readable } from 'node:stream';

/** How many messages DecodeAhead may hold decoded ahead of its consumer, and of what size. */
export interface DecodeAheadLimits {
  /** Messages held decoded ahead of the consumer, at most. */
  readonly messages: number;
  /**
   * A message is decoded ahead only while the last one read was at most this many bytes: a
   * stream's batches are of a kind, and a large one is held once (being applied), not twice.
   */
  readonly maxMessageBytes: number;
}

/**
 * Decodes a stream's messages a few ahead of the consumer. Decoding is CPU work on the event
 * loop; done as messages arrive, it overlaps with the consumer's waits on SQLite (done when the
 * consumer asks, it would add to them). Only `limits.messages` are held decoded, and only while
 * messages are small; the rest wait in the Readable as bytes (5-10x smaller than their decoded
 * objects for ordinary rows). A consumer that waits always gets the next message decoded.
 */
export class DecodeAhead<T> {
  private readonly decoded: T[] = [];
  private ended = false;
  private failure: { readonly error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private fillScheduled = false;
  private lastBytes = 0;

  constructor(
    private readonly source: Readable,
    private readonly decode: (bytes: Buffer) => T,
    private readonly limits: DecodeAheadLimits,
  ) {
    source.on('readable', () => this.fill());
    source.on('end', () => this.finish());
    source.on('error', (error: unknown) => this.finish(error));
  }

  /** The next message, waiting for it; undefined at the end. Throws the stream's or decode's error. */
  async next(): Promise<T | undefined> {
    for (;;) {
      const message = this.decoded.shift();
      if (message !== undefined) {
        // Top up after the consumer has gone on with this one, not before it can.
        this.scheduleFill();
        return message;
      }
      if (this.failure) throw this.failure.error;
      if (this.ended) return undefined;
      // A message left in the Readable (not decoded ahead) emits no new 'readable': read it now,
      // on the next turn, so the consumer's own work comes first.
      this.scheduleFill();
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  private scheduleFill(): void {
    if (this.fillScheduled) return;
    this.fillScheduled = true;
    setImmediate(() => {
      this.fillScheduled = false;
      this.fill();
    });
  }

  /** A waiting consumer's message, or one more ahead while the limits allow it. */
  private wanted(): boolean {
    if (this.wake !== undefined && this.decoded.length === 0) return true;
    return this.decoded.length < this.limits.messages && this.lastBytes <= this.limits.maxMessageBytes;
  }

  private fill(): void {
    while (!this.failure && this.wanted()) {
      const bytes = this.source.read() as Buffer | null;
      if (bytes === null) break;
      this.lastBytes = bytes.length;
      try {
        this.decoded.push(this.decode(bytes));
      } catch (error) {
        // Messages decoded before it are still delivered; the failure comes after them.
        this.finish(error);
      }
    }
    // Woken only with something to take: a wake for nothing would spin next() and fill().
    if (this.decoded.length > 0) this.wake?.();
  }

  private finish(error?: unknown): void {
    if (error !== undefined && !this.failure) this.failure = { error };
    this.ended = true;
    this.wake?.();
  }
}
