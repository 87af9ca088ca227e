import { ResourceName, SyncEvent } from '@tidemark/engine';
import { MultiBar, Presets, SingleBar } from 'cli-progress';
import { formatCount } from './output';

export interface ProgressReporter {
  /** Feeds a sync event from the engine. */
  onSync(event: SyncEvent): void;
  /** Feeds generic progress (indexing, generating): rows done of total for a type. */
  onRows(type: string, done: number, total: number): void;
  stop(): void;
}

/**
 * Progress for people: a bar per resource type with rows, rows/s and ETA on a terminal, and
 * plain lines elsewhere (CI logs, pipes), where redrawn bars would be noise. `--json` users get
 * no progress at all, only the final document.
 */
export function createProgressReporter(mode: { json: boolean; tty: boolean }): ProgressReporter {
  if (mode.json) return { onSync: () => undefined, onRows: () => undefined, stop: () => undefined };
  return mode.tty ? new BarReporter() : new LineReporter();
}

class BarReporter implements ProgressReporter {
  private readonly multibar = new MultiBar(
    {
      format: ' {type} |{bar}| {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      etaBuffer: 20,
    },
    Presets.shades_classic,
  );
  private readonly bars = new Map<string, SingleBar>();

  onSync(event: SyncEvent): void {
    if (event.kind !== 'batch' || event.phase !== 'backfill') return;
    const total = event.totalReceived + event.remaining;
    this.update(event.resourceType, event.totalReceived, Math.max(total, 1), event.rowsPerSecond);
  }

  onRows(type: string, done: number, total: number): void {
    this.update(type, done, Math.max(total, 1));
  }

  private update(type: string, value: number, total: number, rate?: number): void {
    let bar = this.bars.get(type);
    const payload = { type: type.padEnd(16), rate: rate === undefined ? '-' : formatCount(Math.round(rate)) };
    if (!bar) {
      bar = this.multibar.create(total, value, payload);
      this.bars.set(type, bar);
    }
    bar.setTotal(total);
    bar.update(value, payload);
  }

  stop(): void {
    this.multibar.stop();
  }
}

class LineReporter implements ProgressReporter {
  private readonly lastPrint = new Map<string, number>();

  onSync(event: SyncEvent): void {
    if (event.kind === 'type_failed') {
      process.stderr.write(`${event.resourceType}: rejected: ${event.error.message}\n`);
      return;
    }
    if (event.kind !== 'batch' || event.phase !== 'backfill') return;
    if (event.caughtUp) {
      process.stderr.write(
        `${pad(event.resourceType)} caught up: ${formatCount(event.totalReceived)} rows in ${event.batches} batches` +
          ` (${formatCount(Math.round(event.rowsPerSecond))} rows/s), watermark seq ${event.watermarkSeq}\n`,
      );
    } else if (this.due(event.resourceType)) {
      process.stderr.write(
        `${pad(event.resourceType)} ${formatCount(event.totalReceived)} rows, ${formatCount(event.remaining)} to go` +
          ` (${formatCount(Math.round(event.rowsPerSecond))} rows/s)\n`,
      );
    }
  }

  onRows(type: string, done: number, total: number): void {
    if (done >= total || this.due(type))
      process.stderr.write(`${pad(type)} ${formatCount(done)}/${formatCount(total)}\n`);
  }

  private due(type: string): boolean {
    const now = Date.now();
    if (now - (this.lastPrint.get(type) ?? 0) < 1000) return false;
    this.lastPrint.set(type, now);
    return true;
  }

  stop(): void {}
}

function pad(type: string | ResourceName): string {
  return type.padEnd(16);
}
