/**
 * How far apart two changes of a file must be for its timestamps to tell them apart. Kept apart
 * from volume.ts so that the hashing threads can load it without the engine.
 */

/**
 * Local file systems that keep timestamps to the nanosecond: Linux stamps them from its coarse
 * clock, which trails the time by up to one of its ticks (1 to 10 ms), and the indexer floors
 * mtimes to the millisecond: two writes 20 ms apart get different mtimes.
 */
export const FINE_TIMESTAMP_TICK_MS = 20;

/**
 * Every other one: FAT keeps mtimes to 2 s, HFS+ to 1 s, a network file system what its server
 * keeps; plus 10 ms, the coarse clock's lag, so that a read made after the tick is after any
 * write the file system could still give the same timestamp.
 */
export const COARSE_TIMESTAMP_TICK_MS = 2_010;

/**
 * Whether a timestamp (ms, as `fs.Stats` gives it, not floored) has no part below the second: it
 * is then taken for one from a file system that keeps seconds, whatever its type says. ext4 with
 * 128-byte inodes (ext3-era file systems) and the ext2 driver keep seconds; on a file system that
 * keeps nanoseconds it is about one timestamp in 10^7 (a double in ms keeps nanoseconds only to
 * about 120 ns today), and costs a wait of at most 2 s.
 */
export function isWholeSecond(timestampMs: number): boolean {
  return timestampMs % 1000 === 0;
}

/** The tick to allow for a timestamp on a file system whose tick is `tickMs`. */
export function tickFor(wholeSecond: boolean, tickMs: number): number {
  return wholeSecond ? Math.max(tickMs, COARSE_TIMESTAMP_TICK_MS) : tickMs;
}
