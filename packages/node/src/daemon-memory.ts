import { setDefaultHighWaterMark } from 'node:stream';
import { setFlagsFromString } from 'node:v8';

/**
 * SQLite page cache of a node's writer connection, in KiB. Measured on a 1M-entry backfill:
 * 16 MiB (the engine's default, which the CLI's one-shot commands keep) made the receiving
 * node's peak RSS ~20 MB higher for no measurable speed.
 */
export const DAEMON_WRITER_CACHE_KIB = 4 * 1024;

/**
 * V8 grows its heap after each full GC by a factor chosen from allocation speed, up to 4x the
 * live objects. A backfill allocates fast (decoded batches, row images) while its live set is
 * ~45-60 MB (heap snapshot at 1M entries), so the heap floated at 130-200 MB, most of it garbage.
 * A fixed 1.2x keeps it near the live set. It is read at every GC, so setting it at run time
 * takes effect. Measured at 1M entries: peak RSS A 230 -> ~160 MB, B 350 -> ~200 MB, for
 * ~15 % of backfill throughput (more frequent full GCs).
 */
const HEAP_GROWING_PERCENT = 20;

/**
 * Object-mode streams buffer 16 items by default. grpc-js reads that many messages ahead into
 * each call without a per-call setting; 4 keep a call busy with a quarter of the bytes. The
 * client's StateBatch streams set their own (0, peers/read-ahead.ts), server streams are capped
 * lower still by write-backpressure.ts.
 */
const OBJECT_STREAM_HIGH_WATER_MARK = 4;

/**
 * Memory settings for a process whose main job is a node (`tidemark node`). They are process
 * wide, so only runNodeProcess applies them, never a library user that merely embeds a node.
 */
export function tuneProcessForDaemon(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  setDefaultHighWaterMark(true, OBJECT_STREAM_HIGH_WATER_MARK);
}
