import { ResourceName, SyncEvent } from '@tidemark/engine';
import type { IndexProgress } from './indexer/index-location';
import { Format, MultiBar, Presets, SingleBar } from 'cli-progress';
import { formatCount } from './output';
import { BarState, formatBarLine } from './progress-line';

export interface ProgressReporter {
  /** Feeds a sync event from the engine. */
  onSync(event: SyncEvent): void;
  /** Feeds generic progress (indexing, generating): rows done of total for a type. */
  onRows(type: string, done: number, total: number): void;
  /** Feeds an indexing run's progress: objects walked, files/s, bytes hashed/s. */
  onIndex(progress: IndexProgress): void;
  stop(): void;
}

/** "12,345 files/s, 48.2 MB/s hashed": rates over the run so far. */
export function indexRates(progress: IndexProgress): string {
  const seconds = Math.max(progress.seconds, 0.001);
  const files = formatCount(Math.round(progress.walked / seconds));
  const megabytes = (progress.bytesHashed / seconds / 1e6).toFixed(1);
  return `${files} files/s, ${formatCount(progress.filesHashed)} hashed at ${megabytes} MB/s`;
}

/**
 * Progress for people: a bar per resource type with rows, rows/s and ETA on a terminal, and
 * plain lines elsewhere (CI logs, pipes), where redrawn bars would be noise. `--json` users get
 * no progress at all, only the final document.
 */
export function createProgressReporter(mode: { json: boolean; tty: boolean }): ProgressReporter {
  if (mode.json)
    return {
      onSync: () => undefined,
      onRows: () => undefined,
      onIndex: () => undefined,
      stop: () => undefined,
    };
  return mode.tty ? new BarReporter() : new LineReporter();
}

class BarReporter implements ProgressReporter {
  private readonly multibar = new MultiBar(
    {
      format: (options, _params, payload: { state: BarState }) =>
        formatBarLine(payload.state, (progress) => Format.BarFormat(progress, options)),
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
    },
    Presets.shades_classic,
  );
  private readonly bars = new Map<string, SingleBar>();
  /** Each type's first report, from which its rate is measured when the caller gives none. */
  private readonly firstReports = new Map<string, { readonly at: number; readonly done: number }>();

  onSync(event: SyncEvent): void {
    if (event.kind !== 'batch' || event.phase !== 'backfill') return;
    this.show({
      label: event.resourceType,
      done: event.totalReceived,
      total: event.totalReceived + event.remaining,
      finished: event.caughtUp,
      rowsPerSecond: event.rowsPerSecond,
    });
  }

  onRows(type: string, done: number, total: number): void {
    const now = Date.now();
    const first = this.firstReports.get(type);
    if (!first) this.firstReports.set(type, { at: now, done });
    // A rate needs two reports: the first one only says where the count stood when it came.
    const rowsPerSecond =
      first && now > first.at && done > first.done
        ? ((done - first.done) * 1000) / (now - first.at)
        : undefined;
    this.show({ label: type, done, total, finished: done >= total, rowsPerSecond });
  }

  onIndex(progress: IndexProgress): void {
    // Without a count first the total is unknown: the bar shows the walk so far as its total.
    const total = Math.max(progress.total, progress.walked);
    this.show({
      label: 'entry',
      done: progress.walked,
      total: progress.finished ? progress.walked : total,
      finished: progress.finished,
      detail: indexRates(progress),
    });
  }

  private show(state: BarState): void {
    const bar = this.bars.get(state.label);
    if (!bar) {
      this.bars.set(state.label, this.multibar.create(state.total, state.done, { state }));
      return;
    }
    // The line is drawn from `state` alone; cli-progress's own value and total are kept in step
    // only so that its idea of the bar never disagrees with the line.
    bar.setTotal(state.total);
    bar.update(state.done, { state });
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

  onIndex(progress: IndexProgress): void {
    if (!progress.finished && !this.due('entry')) return;
    const of = progress.total > progress.walked ? `/${formatCount(progress.total)}` : '';
    process.stderr.write(
      `${pad('entry')} ${formatCount(progress.walked)}${of} walked${progress.finished ? ', done' : ''} (${indexRates(progress)})\n`,
    );
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
