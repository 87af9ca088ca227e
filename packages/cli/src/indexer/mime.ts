/**
 * The MIME type is sniffed from the content's first bytes, never from the file name: a content
 * identity is shared across devices, and two copies named `a.txt` and `a.md` must not keep
 * overwriting each other's type.
 */
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

/** Control bytes that plain text uses: backspace, tab, newline, form feed, carriage return, escape. */
const TEXT_CONTROLS = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1b]);

function isText(sample: Buffer): boolean {
  const head = sample.subarray(0, TEXT_SAMPLE);
  if (head.some((byte) => (byte < 0x20 && !TEXT_CONTROLS.has(byte)) || byte === 0x7f)) return false;
  try {
    // `stream: true` tolerates a multi-byte character cut by the end of the sample.
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/** MIME type of content whose first bytes are `sample`; '' for empty content. */
export function sniffMime(sample: Buffer): string {
  if (sample.length === 0) return '';
  const known = MAGICS.find((entry) => matches(sample, entry));
  if (known) return known.mime;
  if (!isText(sample)) return 'application/octet-stream';
  const start = sample.subarray(0, 512).toString('utf8').trimStart().toLowerCase();
  if (start.startsWith('<!doctype html') || start.startsWith('<html')) return 'text/html';
  if (start.startsWith('<?xml')) return 'application/xml';
  return 'text/plain';
}
