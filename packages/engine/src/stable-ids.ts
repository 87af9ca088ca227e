import { hash } from 'node:crypto';

/** One-shot: a Hash object per call cost about twice the hashing (an indexer derives 2 ids a file). */
const sha256 = (name: string): Buffer => hash('sha256', name, 'buffer');

/** ASCII codes of the hex digits, and where each of the 16 bytes goes in a hyphenated UUID. */
const HEX_CODES = Buffer.from('0123456789abcdef', 'latin1');
const UUID_OFFSETS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
/** Reused: a formatted id is built in place and copied out once (ids are made synchronously). */
const formatted = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');

/**
 * Sets RFC 9562 version 8 (custom, here SHA-256 based) and the variant bits of 16 bytes (in
 * place), and formats them as a lowercase hyphenated UUID. Written into one buffer rather than
 * sliced from a hex string: an indexer makes two ids per file, and the hex string and its five
 * slices were more of its garbage than the ids themselves.
 */
export function formatV8(bytes: Buffer): string {
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  for (let index = 0; index < 16; index++) {
    const at = UUID_OFFSETS[index];
    formatted[at] = HEX_CODES[bytes[index] >> 4];
    formatted[at + 1] = HEX_CODES[bytes[index] & 0x0f];
  }
  return formatted.toString('latin1', 0, 36);
}

/**
 * A name-based UUID: the same name gives the same id on every device, so devices agree on an id
 * without talking (two devices indexing identical content make one content identity). It is
 * SHA-256 based, so it carries version 8 (RFC 9562's custom layout, whose own example is a
 * SHA-256 name-based id); version 5 would promise SHA-1.
 */
export function stableUuid(name: string): string {
  return formatV8(sha256(name).subarray(0, 16));
}

/** Independent of device and library: identical bytes anywhere are one content identity. */
export function contentUuidOf(contentHash: string): string {
  return stableUuid(`content:${contentHash}`);
}

/**
 * Derived rather than random so a child can name its parent without a path-to-uuid map of every
 * directory, and so a run that crashed half-way and is repeated writes the same ids.
 *
 * Laid out so that siblings sort together: bytes 0-3 hash the location, bytes 4-7 the parent
 * directory, bytes 8-15 the whole path. An indexer writes a directory's entries together, and a
 * peer applies them in that order, so each transaction touches a few neighbouring pages of the
 * uuid index instead of one random page per entry: at a million entries that random write
 * pattern, not the sync protocol, was most of a first backfill's time (docs/architecture.md,
 * "Performance"). Uniqueness rests on the path hash alone within a directory: 62 bits.
 */
export function entryUuidOf(locationUuid: string, relativePath: string): string {
  const slash = relativePath.lastIndexOf('/');
  const parent = slash < 0 ? '' : relativePath.slice(0, slash);
  const bytes = Buffer.allocUnsafe(16);
  prefixOf(locationUuid, parent).copy(bytes, 0, 0, 8);
  sha256(`entry:${locationUuid}:${relativePath}`).copy(bytes, 8, 0, 8);
  return formatV8(bytes);
}

/**
 * The first 8 bytes of the last directory's entry uuids: an indexer derives the ids of a whole
 * directory's children in a row, and two of the three hashes of each are the same for all of
 * them (a third of a first index's main-thread CPU per entry went to hashing them again).
 */
let lastPrefix: { locationUuid: string; parent: string; bytes: Buffer } | undefined;

function prefixOf(locationUuid: string, parent: string): Buffer {
  if (lastPrefix?.locationUuid === locationUuid && lastPrefix.parent === parent) return lastPrefix.bytes;
  const bytes = Buffer.allocUnsafe(8);
  sha256(`location:${locationUuid}`).copy(bytes, 0, 0, 4);
  sha256(`directory:${locationUuid}:${parent}`).copy(bytes, 4, 0, 4);
  lastPrefix = { locationUuid, parent, bytes };
  return bytes;
}

/** Assigning a tag twice, on one device or two, is one assignment. */
export function tagAssignmentUuidOf(tagUuid: string, contentUuid: string): string {
  return stableUuid(`tag_assignment:${tagUuid}:${contentUuid}`);
}
