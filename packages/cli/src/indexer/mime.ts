/**
 * The MIME type is sniffed from the content's first bytes, never from the file name: a content
 * identity is shared across devices, and two copies named `a.txt` and `a.md` must not keep
 * overwriting each other's type.
 */
import { isUtf8 } from 'node:buffer';

interface Magic {
  readonly mime: string;
  readonly bytes: Buffer;
  readonly offset: number;
}

const magic = (mime: string, bytes: string | readonly number[], offset = 0): Magic => ({
  mime,
  bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes),
  offset,
});

const MAGICS: readonly Magic[] = [
  magic('application/gzip', [0x1f, 0x8b]),
  magic('application/zip', [0x50, 0x4b, 0x03, 0x04]),
  magic('application/x-bzip2', 'BZh'),
  magic('application/x-xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]),
  magic('application/zstd', [0x28, 0xb5, 0x2f, 0xfd]),
  magic('application/x-tar', 'ustar', 257),
  magic('application/pdf', '%PDF-'),
  magic('application/postscript', '%!PS'),
  magic('application/x-elf', [0x7f, 0x45, 0x4c, 0x46]),
  magic('application/wasm', [0x00, 0x61, 0x73, 0x6d]),
  magic('application/vnd.sqlite3', 'SQLite format 3\0'),
  magic('image/png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  magic('image/jpeg', [0xff, 0xd8, 0xff]),
  magic('image/gif', 'GIF8'),
  magic('audio/mpeg', 'ID3'),
  magic('audio/flac', 'fLaC'),
  magic('application/ogg', 'OggS'),
];

const TEXT_SAMPLE = 8192;

function matches(sample: Buffer, entry: Magic): boolean {
  const end = entry.offset + entry.bytes.length;
  return sample.length >= end && sample.subarray(entry.offset, end).equals(entry.bytes);
}

/**
 * 1 for the bytes plain text never holds: controls other than backspace, tab, newline, form
 * feed, carriage return and escape, and DEL. A table, not a per-byte callback: this runs over up
 * to 8 KiB of every file hashed, and a callback per byte was a tenth of a hashing thread's time.
 */
const NOT_TEXT = new Uint8Array(256);
for (let byte = 0; byte < 0x20; byte++) NOT_TEXT[byte] = 1;
for (const control of [0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1b]) NOT_TEXT[control] = 0;
NOT_TEXT[0x7f] = 1;

function isText(sample: Buffer): boolean {
  const head = sample.subarray(0, TEXT_SAMPLE);
  for (let i = 0; i < head.length; i++) if (NOT_TEXT[head[i]] === 1) return false;
  // Native, and no decoder made per file; only a sample that is not whole UTF-8 is decoded.
  if (isUtf8(head)) return true;
  try {
    // `stream: true` tolerates a multi-byte character cut by the end of the sample.
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/** ASCII whitespace that `trimStart` removes (the only whitespace bytes below 0x80). */
const isAsciiSpace = (byte: number) => byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);

const MARKUP_SAMPLE = 512;

/**
 * Whether text starting with `sample` may be markup: its first byte after ASCII whitespace is
 * `<`, or is not ASCII (other whitespace, such as a byte-order mark, may still come first).
 * Most text is not, and needs no decoded copy of its first 512 bytes.
 */
function mayBeMarkup(sample: Buffer): boolean {
  const end = Math.min(sample.length, MARKUP_SAMPLE);
  let i = 0;
  while (i < end && isAsciiSpace(sample[i])) i++;
  return i < end && (sample[i] === 0x3c || sample[i] >= 0x80);
}

/** MIME type of content whose first bytes are `sample`; '' for empty content. */
export function sniffMime(sample: Buffer): string {
  if (sample.length === 0) return '';
  const known = MAGICS.find((entry) => matches(sample, entry));
  if (known) return known.mime;
  if (!isText(sample)) return 'application/octet-stream';
  if (!mayBeMarkup(sample)) return 'text/plain';
  const start = sample.subarray(0, MARKUP_SAMPLE).toString('utf8').trimStart().toLowerCase();
  if (start.startsWith('<!doctype html') || start.startsWith('<html')) return 'text/html';
  if (start.startsWith('<?xml')) return 'application/xml';
  return 'text/plain';
}
