import type { Readable } from 'node:stream';

/**
 * Decodes a stream's messages a few ahead of the consumer. Decoding is CPU work on the event
 * loop; done as messages arrive, it overlaps with the consumer's waits on SQLite (done when the
 * consumer asks, it would add to them). Only `maxDecoded` are held decoded; the rest wait in the
 * Readable as bytes, which are 5-10x smaller than their decoded objects.
 */
export class DecodeAhead<T> {
  private readonly decoded: T[] = [];
  private ended = false;
  private failure: { readonly error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private fillScheduled = false;

  constructor(
    private readonly source: Readable,
    private readonly decode: (bytes: Buffer) => T,
    private readonly maxDecoded: number,
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

  private fill(): void {
    while (!this.failure && this.decoded.length < this.maxDecoded) {
      const bytes = this.source.read() as Buffer | null;
      if (bytes === null) break;
      try {
        this.decoded.push(this.decode(bytes));
      } catch (error) {
        // Messages decoded before it are still delivered; the failure comes after them.
        this.finish(error);
      }
    }
    this.wake?.();
  }

  private finish(error?: unknown): void {
    if (error !== undefined && !this.failure) this.failure = { error };
    this.ended = true;
    this.wake?.();
  }
}
