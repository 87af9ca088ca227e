/** Prints a value as one JSON document (for --json). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/**
 * Text from a peer (device, volume, tag names, paths) made safe to print on a terminal: control
 * characters (C0, DEL, C1) and bidirectional overrides, which could move the cursor, recolour
 * or rewrite the screen, or reorder what is shown, are written as `\u{…}` escapes. A backslash
 * stays as it is: the escapes are for reading, not for parsing back (use --json for that).
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => `\\u{${char.codePointAt(0)!.toString(16)}}`);
}

// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A plain text table with aligned columns, for people; every cell goes through `printable`. */
export function formatTable(headers: readonly string[], unsafeRows: readonly (readonly string[])[]): string {
  const rows = unsafeRows.map((row) => row.map((cell) => printable(cell ?? '')));
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : (cell ?? '').padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatTime(ms: number | undefined): string {
  if (!ms) return '-';
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Stamps this far past the wall clock are said to be ahead, not shown as if they were the time. */
const STAMP_AHEAD_SHOWN_MS = 60_000;

/**
 * The time of a change's HLC stamp. A stamp can be ahead of every wall clock (one device's clock
 * was ahead, and the receive rule carries stamps up to the max drift): shown as the time, it
 * would be a moment still to come, so it says how far ahead of this device's clock it is.
 */
export function formatStampTime(ms: number | undefined, nowMs = Date.now()): string {
  if (!ms) return '-';
  const ahead = ms - nowMs;
  return ahead > STAMP_AHEAD_SHOWN_MS
    ? `${formatTime(ms)} (stamped ${formatDuration(ahead / 1000)} ahead of this clock)`
    : formatTime(ms);
}

/** A clock offset in words: "10 min ahead", "1.5 s behind". */
export function formatOffset(offsetMs: number): string {
  if (offsetMs === 0) return 'in step';
  return `${formatDuration(Math.abs(offsetMs) / 1000)} ${offsetMs > 0 ? 'ahead' : 'behind'}`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
