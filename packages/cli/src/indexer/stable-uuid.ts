import { createHash } from 'node:crypto';

/**
 * A name-based UUID: the same name gives the same id on every device, so devices agree on an id
 * without talking (two devices indexing identical content make one content identity). It is
 * SHA-256 based, so it carries version 8 (RFC 9562's custom layout, whose own example is a
 * SHA-256 name-based id); version 5 would promise SHA-1.
 */
export function stableUuid(name: string): string {
  const bytes = createHash('sha256').update(name).digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Independent of device and library: identical bytes anywhere are one content identity. */
export function contentUuidOf(contentHash: string): string {
  return stableUuid(`content:${contentHash}`);
}

/**
 * Derived rather than random so a child can name its parent without a path-to-uuid map of every
 * directory, and so a run that crashed half-way and is repeated writes the same ids.
 */
export function entryUuidOf(locationUuid: string, relativePath: string): string {
  return stableUuid(`entry:${locationUuid}:${relativePath}`);
}

/** Assigning a tag twice, on one device or two, is one assignment. */
export function tagAssignmentUuidOf(tagUuid: string, contentUuid: string): string {
  return stableUuid(`tag_assignment:${tagUuid}:${contentUuid}`);
}
