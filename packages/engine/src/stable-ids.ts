import { hash } from 'node:crypto';
import { HEX_DIGIT_CODES } from './hex-digits';

const HYPHEN = 0x2d;

/** One-shot: a Hash object per call cost about twice the hashing (an indexer derives 2 ids a file). */
const sha256 = (name: string): Buffer => hash('sha256', name, 'buffer');

/**
 * Sets RFC 9562 version 8 (custom, here SHA-256 based) and the variant bits of the first 16 bytes
 * (in place), and formats them as a lowercase hyphenated UUID.
 */
export function formatV8(bytes: Buffer): string {
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = HEX_DIGIT_CODES;
  const high = (index: number) => hex[bytes[index] >> 4];
  const low = (index: number) => hex[bytes[index] & 0x0f];
  // The five groups of a UUID, one per line.
  // prettier-ignore
  return String.fromCharCode(
    high(0), low(0), high(1), low(1), high(2), low(2), high(3), low(3), HYPHEN,
    high(4), low(4), high(5), low(5), HYPHEN,
    high(6), low(6), high(7), low(7), HYPHEN,
    high(8), low(8), high(9), low(9), HYPHEN,
    high(10), low(10), high(11), low(11), high(12), low(12), high(13), low(13), high(14), low(14), high(15), low(15),
  );
}

/**
 * A name-based UUID: the same name gives the same id on every device, so devices agree on an id
 * without talking (two devices indexing identical content make one content identity). It is
 * SHA-256 based, so it carries version 8 (RFC 9562's custom layout, whose own example is a
 * SHA-256 name-based id); version 5 would promise SHA-1.
 */
export function stableUuid(name: string): string {
  return formatV8(sha256(name));
}

/** Independent of device and library: identical bytes anywhere are one content identity. */
export function contentUuidOf(contentHash: string): string {
  return stableUuid(`content:${contentHash}`);
}

/** Reused: entryUuidOf fills all 16 bytes each time, and formatV8 copies them out as text. */
const entryIdBytes = Buffer.alloc(16);

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
  const bytes = entryIdBytes;
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
