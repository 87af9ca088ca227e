import { randomBytes } from 'node:crypto';
import { sniffMime } from './mime';

/**
 * The sniffer as it was before its fast paths (a callback per byte, a decoder per sample, a
 * decoded copy of every text's start): the fast one must answer exactly as it did, since a
 * content identity's MIME type is shared by every device that holds the bytes.
 */
function referenceMime(sample: Buffer): string {
  if (sample.length === 0) return '';
  const magics: [string, Buffer, number][] = [
    ['application/gzip', Buffer.from([0x1f, 0x8b]), 0],
    ['application/zip', Buffer.from([0x50, 0x4b, 0x03, 0x04]), 0],
    ['application/x-bzip2', Buffer.from('BZh', 'latin1'), 0],
    ['application/x-xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), 0],
    ['application/zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), 0],
    ['application/x-tar', Buffer.from('ustar', 'latin1'), 257],
    ['application/pdf', Buffer.from('%PDF-', 'latin1'), 0],
    ['application/postscript', Buffer.from('%!PS', 'latin1'), 0],
    ['application/x-elf', Buffer.from([0x7f, 0x45, 0x4c, 0x46]), 0],
    ['application/wasm', Buffer.from([0x00, 0x61, 0x73, 0x6d]), 0],
    ['application/vnd.sqlite3', Buffer.from('SQLite format 3\0', 'latin1'), 0],
    ['image/png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), 0],
    ['image/jpeg', Buffer.from([0xff, 0xd8, 0xff]), 0],
    ['image/gif', Buffer.from('GIF8', 'latin1'), 0],
    ['audio/mpeg', Buffer.from('ID3', 'latin1'), 0],
    ['audio/flac', Buffer.from('fLaC', 'latin1'), 0],
    ['application/ogg', Buffer.from('OggS', 'latin1'), 0],
  ];
  for (const [mime, bytes, offset] of magics) {
    const end = offset + bytes.length;
    if (sample.length >= end && sample.subarray(offset, end).equals(bytes)) return mime;
  }
  const controls = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1b]);
  const head = sample.subarray(0, 8192);
  if (head.some((byte) => (byte < 0x20 && !controls.has(byte)) || byte === 0x7f)) {
    return 'application/octet-stream';
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
  } catch {
    return 'application/octet-stream';
  }
  const start = sample.subarray(0, 512).toString('utf8').trimStart().toLowerCase();
  if (start.startsWith('<!doctype html') || start.startsWith('<html')) return 'text/html';
  if (start.startsWith('<?xml')) return 'application/xml';
  return 'text/plain';
}

const text = (s: string) => Buffer.from(s, 'utf8');

/** Seeded, so a failure names a sample that can be made again. */
function* seeded(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    yield x;
  }
}

describe('sniffMime', () => {
  const spaces = [
    '',
    ' ',
    '\t\n',
    '\r\n  ',
    '\f',
    '\u00a0',
    '\ufeff',
    '\u2003 ',
    ' '.repeat(511),
    ' '.repeat(600),
  ];
  const starts = [
    '<!DOCTYPE html>',
    '<html>',
    '<HTML lang="en">',
    '<?xml version="1.0"?>',
    '<p>',
    'hello',
    'é<html>',
    '',
  ];

  it('answers as before on markup, text and whitespace of every kind', () => {
    for (const space of spaces) {
      for (const start of starts) {
        const sample = text(`${space}${start}\nmore text\n`);
        expect([space, start, sniffMime(sample)]).toEqual([space, start, referenceMime(sample)]);
      }
    }
    expect(sniffMime(text('  <!doctype HTML><p>'))).toBe('text/html');
    expect(sniffMime(text('\ufeff<?xml version="1.0"?>'))).toBe('application/xml');
    expect(sniffMime(text('plain words'))).toBe('text/plain');
  });

  it('answers as before where UTF-8 is cut by the sample, or is not UTF-8', () => {
    const euro = Buffer.from('€', 'utf8'); // 3 bytes
    for (let cut = 0; cut <= 3; cut++) {
      // A character cut by the 8 KiB sample's end is still text; one cut before it is not.
      const atEnd = Buffer.concat([Buffer.alloc(8192 - cut, 0x61), euro, text('tail')]);
      const inside = Buffer.concat([Buffer.alloc(100, 0x61), euro.subarray(0, cut), text('tail')]);
      for (const sample of [atEnd, inside, atEnd.subarray(0, 8192), inside.subarray(0, 100 + cut)]) {
        expect(sniffMime(sample)).toBe(referenceMime(sample));
      }
    }
    for (const bad of [
      [0xc3],
      [0xe2, 0x82],
      [0xc0, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xff],
    ]) {
      const sample = Buffer.concat([text('abc'), Buffer.from(bad), text('def')]);
      expect(sniffMime(sample)).toBe(referenceMime(sample));
    }
  });

  it('answers as before on every magic and on random bytes, text-like or not', () => {
    const next = seeded(19);
    const alphabet = Buffer.from(' \t\n\r<>!?abcdefhlmtxHTMLXé€\u00a0\ufeff\u001b\u0000\u007f', 'utf8');
    for (let n = 0; n < 3000; n++) {
      const length = next.next().value % 700;
      const sample = Buffer.alloc(length);
      if (n % 3 === 0) randomBytes(length).copy(sample);
      else for (let i = 0; i < length; i++) sample[i] = alphabet[next.next().value % alphabet.length];
      expect(sniffMime(sample)).toBe(referenceMime(sample));
    }
    for (const magic of [
      '\u001f\u008b',
      'PK\u0003\u0004',
      'BZh',
      '%PDF-1.7',
      '%!PS',
      'GIF89a',
      'ID3',
      'fLaC',
      'OggS',
    ]) {
      const sample = Buffer.concat([Buffer.from(magic, 'latin1'), text(' rest')]);
      expect(sniffMime(sample)).toBe(referenceMime(sample));
    }
    const tar = Buffer.concat([Buffer.alloc(257, 0x61), text('ustar  ')]);
    expect(sniffMime(tar)).toBe('application/x-tar');
    expect(sniffMime(Buffer.alloc(0))).toBe('');
  });
});
