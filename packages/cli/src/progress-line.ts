import { formatCount } from './output';

/** What a progress bar knows about one resource type at one moment. */
export interface BarState {
  readonly label: string;
  readonly done: number;
  /** 0 when there is nothing to do. */
  readonly total: number;
  readonly finished: boolean;
  /** Rows per second, once measured; undefined before that. */
  readonly rowsPerSecond?: number;
  /** Printed after the counts, in place of rows/s and ETA (an indexing run's own rates). */
  readonly detail?: string;
}

/** Width of the label column: the longest resource type name, `content_identity`. */
const LABEL_WIDTH = 16;

/**
 * One bar's line. A rate and an ETA are printed only once they are known: a placeholder for an
 * unknown value ("- rows/s", "ETA NULL") tells the reader nothing and looks like a bug. A type
 * with nothing to send says so instead of showing an empty bar.
 */
export function formatBarLine(state: BarState, drawBar: (progress: number) => string): string {
  const nothingToDo = state.finished && state.total === 0;
  const progress = nothingToDo ? 1 : state.total > 0 ? Math.min(state.done / state.total, 1) : 0;
  const head = ` ${state.label.padEnd(LABEL_WIDTH)} |${drawBar(progress)}|`;
  if (nothingToDo) return `${head} caught up, nothing to send`;
  const parts = [`${formatCount(state.done)}/${formatCount(state.total)} rows`];
  if (state.detail) parts.push(state.detail);
  const rate = state.rowsPerSecond;
  const rateKnown = rate !== undefined && Number.isFinite(rate) && rate > 0;
  if (rateKnown) parts.push(`${formatCount(Math.round(rate))} rows/s`);
  if (state.finished) parts.push('done');
  else if (rateKnown) parts.push(`ETA ${formatEta(Math.max(state.total - state.done, 0) / rate)}`);
  return `${head} ${parts.join(' | ')}`;
}

/** Whole seconds up to a minute, then minutes and seconds, then hours and minutes. */
export function formatEta(seconds: number): string {
  const whole = Math.ceil(seconds);
  const two = (n: number) => String(n).padStart(2, '0');
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${two(whole % 60)}s`;
  return `${Math.floor(whole / 3600)}h${two(Math.floor((whole % 3600) / 60))}m`;
}
