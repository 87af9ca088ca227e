import { metricOf, scrapeMetrics } from './node-process';

/** Peaks of where a node's memory is, from its own Prometheus metrics (prom-client defaults). */
export interface MemoryPeaks {
  /** V8's heap as reserved (`nodejs_heap_size_total_bytes`): live objects plus garbage not yet collected. */
  readonly heapTotal: number;
  /** Live-and-dead objects at the sample (`nodejs_heap_size_used_bytes`). */
  readonly heapUsed: number;
  /** Buffers and other memory V8 tracks outside its heap (`nodejs_external_memory_bytes`). */
  readonly external: number;
  readonly samples: number;
}

/** Each sample costs the node one /metrics page; 2 per second keep that out of the figures. */
const SAMPLE_MS = 500;

/**
 * Samples a node's /metrics while a phase runs, so the bench can say which part of the peak
 * RSS is V8's heap, which is Buffers, and (by difference) which is native: SQLite's caches,
 * malloc arenas and the node binary itself.
 */
export class MemorySampler {
  private heapTotal = 0;
  private heapUsed = 0;
  private external = 0;
  private samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly metricsPort: number) {}

  start(): this {
    this.timer = setInterval(() => {
      this.inFlight = this.sample();
    }, SAMPLE_MS);
    return this;
  }

  async stop(): Promise<MemoryPeaks> {
    if (this.timer) clearInterval(this.timer);
    await this.inFlight;
    return {
      heapTotal: this.heapTotal,
      heapUsed: this.heapUsed,
      external: this.external,
      samples: this.samples,
    };
  }

  private async sample(): Promise<void> {
    try {
      const page = await scrapeMetrics(this.metricsPort);
      const heapTotal = metricOf(page, 'nodejs_heap_size_total_bytes');
      const heapUsed = metricOf(page, 'nodejs_heap_size_used_bytes');
      const external = metricOf(page, 'nodejs_external_memory_bytes');
      this.heapTotal = Math.max(this.heapTotal, heapTotal);
      this.heapUsed = Math.max(this.heapUsed, heapUsed);
      this.external = Math.max(this.external, external);
      this.samples += 1;
    } catch {
      // A node that is restarting or stopping has no metrics for a moment; the next sample counts.
    }
  }
}
