import { createHash, hash as oneShotHash } from 'node:crypto';
import * as fs from 'node:fs';
import { sniffMime } from './mime';
import { isWholeSecond } from './timestamp-ticks';

/** Files up to this size are hashed whole: their hash is plain `sha256sum`. */
export const FULL_HASH_LIMIT = 1024 * 1024;
/** Larger files are sampled, like a CAS id: size plus three chunks of this many bytes. */
export const SAMPLE_BYTES = 64 * 1024;

export interface ContentDigest {
  /** sha256 hex: of the bytes, or for large files of size + first/middle/last samples. */
  readonly hash: string;
  readonly sizeBytes: number;
  readonly mimeType: string;
  /** The file's mtime (ms, floored, as the walk records it), taken just before its bytes were read. */
  readonly modifiedAtMs: number;
  /** When the read began (`Date.now()`, taken before the mtime): see HashPool's timestamp tick. */
  readonly readFromMs: number;
  /**
   * Whether the mtime had no part below the second before it was floored: perhaps a file system
   * that keeps seconds only, whatever its type says (timestamp-ticks.ts).
   */
  readonly wholeSecondMtime: boolean;
}

/**
 * NOFOLLOW and NONBLOCK: the path was a regular file when walked, but may since have become a
 * symlink (which we must not follow) or a FIFO (whose open would block forever).
 */
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/** The byte ranges hashed for a file of `size` bytes: the whole file, or three samples. */
function rangesOf(size: number): readonly (readonly [position: number, length: number])[] {
  if (size <= FULL_HASH_LIMIT) return [[0, size]];
  return [
    [0, SAMPLE_BYTES],
    [Math.floor(size / 2) - SAMPLE_BYTES / 2, SAMPLE_BYTES],
    [size - SAMPLE_BYTES, SAMPLE_BYTES],
  ];
}

/** Bytes read to hash a file of `size` bytes. */
export function bytesReadToHash(size: number): number {
  return rangesOf(size).reduce((sum, [, length]) => sum + length, 0);
}

/**
 * Sampling keeps indexing a disk of videos bounded by file count, not by terabytes; the size in
 * the sampled hash keeps files that differ only in length apart.
 */
function digestOf(stats: fs.Stats, readFromMs: number, parts: readonly Buffer[]): ContentDigest {
  const { size } = stats;
  const read = {
    sizeBytes: size,
    modifiedAtMs: Math.max(0, Math.floor(stats.mtimeMs)),
    readFromMs,
    wholeSecondMtime: isWholeSecond(stats.mtimeMs),
  };
  if (parts.length === 1 && size <= FULL_HASH_LIMIT) {
    // One-shot: most files are small, and a Hash object per file cost more than hashing 1 KB.
    return { hash: oneShotHash('sha256', parts[0], 'hex'), mimeType: sniffMime(parts[0]), ...read };
  }
  const hash = createHash('sha256');
  if (size > FULL_HASH_LIMIT) {
    const header = Buffer.alloc(8);
    header.writeBigUInt64LE(BigInt(size));
    hash.update(header);
  }
  for (const part of parts) hash.update(part);
  return { hash: hash.digest('hex'), mimeType: sniffMime(parts[0]), ...read };
}

async function readAt(handle: fs.promises.FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

/** Hashes a regular file on this thread, without blocking it. */
export async function hashContent(file: string): Promise<ContentDigest> {
  const readFromMs = Date.now();
  const handle = await fs.promises.open(file, OPEN_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error('no longer a regular file');
    const parts: Buffer[] = [];
    for (const [position, length] of rangesOf(stats.size)) parts.push(await readAt(handle, position, length));
    return digestOf(stats, readFromMs, parts);
  } finally {
    await handle.close();
  }
}

/** Fills `buffer` from `position` on, as far as the file goes; returns the part filled. */
function readAtSync(fd: number, position: number, buffer: Buffer): Buffer {
  let filled = 0;
  while (filled < buffer.length) {
    const bytesRead = fs.readSync(fd, buffer, filled, buffer.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

/**
 * The one buffer blocking reads go into, made on first use: a file is hashed before the next one
 * is read, and a digest keeps nothing of its bytes. A buffer per file (up to 1 MiB each, outside
 * V8's heap) was garbage that a hashing thread's small heap seldom collected.
 */
let readBuffer: Buffer | undefined;

/** Hashes a regular file with blocking reads: for a hashing worker thread, which has nothing else to do. */
export function hashContentSync(file: string): ContentDigest {
  const readFromMs = Date.now();
  const fd = fs.openSync(file, OPEN_FLAGS);
  try {
    const stats = fs.fstatSync(fd);
    if (!stats.isFile()) throw new Error('no longer a regular file');
    // The whole file up to FULL_HASH_LIMIT, or its three samples side by side.
    const buffer = (readBuffer ??= Buffer.allocUnsafe(Math.max(FULL_HASH_LIMIT, 3 * SAMPLE_BYTES)));
    let at = 0;
    const parts = rangesOf(stats.size).map(([position, length]) => {
      const part = readAtSync(fd, position, buffer.subarray(at, at + length));
      at += length;
      return part;
    });
    return digestOf(stats, readFromMs, parts);
  } finally {
    fs.closeSync(fd);
  }
}
