/**
 * Compares two strings in the byte order of their UTF-8 encodings: the order SQLite's BINARY
 * collation keeps text in, and the order an indexer's walk yields paths in. UTF-16 code-unit
 * order agrees except where a surrogate pair (a code point above U+FFFF, 4 bytes in UTF-8) meets
 * a code unit from U+E000 to U+FFFF (3 bytes, smaller): there the pair sorts last.
 */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xSurrogate = x >= 0xd800 && x <= 0xdfff;
    const ySurrogate = y >= 0xd800 && y <= 0xdfff;
    if (xSurrogate !== ySurrogate && Math.max(x, y) >= 0xe000) return xSurrogate ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
