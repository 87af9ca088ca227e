import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { sniffMime } from './mime';

/** Files up to this size are hashed whole: their hash is plain `sha256sum`. */
export const FULL_HASH_LIMIT = 1024 * 1024;
/** Larger files are sampled, like a CAS id: size plus three chunks of this many bytes. */
export const SAMPLE_BYTES = 64 * 1024;

export interface ContentDigest {
  /** sha256 hex: of the bytes, or for large files of size + first/middle/last samples. */
  readonly hash: string;
  readonly sizeBytes: number;
  readonly mimeType: string;
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

/**
 * Hashes a regular file. Sampling keeps indexing a disk of videos bounded by file count, not by
 * terabytes; the size in the sampled hash keeps files that differ only in length apart.
 */
export async function hashContent(file: string): Promise<ContentDigest> {
  // NOFOLLOW and NONBLOCK: the path was a regular file when walked, but may since have become a
  // symlink (which we must not follow) or a FIFO (whose open would block forever).
  const handle = await fs.promises.open(
    file,
    fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK,
  );
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error('no longer a regular file');
    const size = stats.size;
    const hash = createHash('sha256');
    let head: Buffer;
    if (size <= FULL_HASH_LIMIT) {
      head = await readAt(handle, 0, size);
      hash.update(head);
    } else {
      const header = Buffer.alloc(8);
      header.writeBigUInt64LE(BigInt(size));
      head = await readAt(handle, 0, SAMPLE_BYTES);
      const middle = await readAt(handle, Math.floor(size / 2) - SAMPLE_BYTES / 2, SAMPLE_BYTES);
      const tail = await readAt(handle, size - SAMPLE_BYTES, SAMPLE_BYTES);
      hash.update(header).update(head).update(middle).update(tail);
    }
    return { hash: hash.digest('hex'), sizeBytes: size, mimeType: sniffMime(head) };
  } finally {
    await handle.close();
  }
}
