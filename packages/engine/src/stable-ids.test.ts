/**
 * Derived ids. Content and tag-assignment ids are agreed between devices without talking, so
 * their values are pinned: a change would split one content identity into two across versions.
 * Entry ids are derived on the owning device only; their layout puts siblings next to each other
 * in every uuid index (the claim behind the backfill figures in docs/architecture.md).
 */
import { createHash } from 'node:crypto';
import { contentUuidOf, entryUuidOf, stableUuid, tagAssignmentUuidOf } from './stable-ids';
import { isUuid } from './validate';

const LOCATION = '03aa056d-a559-4e89-a11d-2b4a48e112a0';

test('ids devices agree on without talking keep their values', () => {
  expect(contentUuidOf('abc')).toBe('ba9ea1ce-1234-8c0e-8353-d9fb4b62083c');
  expect(tagAssignmentUuidOf('t', 'c')).toBe('46542769-e533-8385-8e6d-735856c59d54');
  expect(stableUuid('volume:d:k')).toBe('e68cc46d-53e2-8d9a-8f82-8bea6ae8038c');
});

test('an entry id is a version-8 UUID, the same on every call, and differs per location and path', () => {
  const id = entryUuidOf(LOCATION, 'photos/2024/a.jpg');
  expect(isUuid(id)).toBe(true);
  expect(id[14]).toBe('8');
  expect('89ab').toContain(id[19]);
  expect(entryUuidOf(LOCATION, 'photos/2024/a.jpg')).toBe(id);
  expect(entryUuidOf(LOCATION, 'photos/2024/b.jpg')).not.toBe(id);
  expect(entryUuidOf('d5a1a8e6-2f0e-4a43-9d53-3c1f0a3b4c5d', 'photos/2024/a.jpg')).not.toBe(id);
});

test('siblings share an 8-byte prefix, so a directory sorts together in a uuid index', () => {
  const prefix = (id: string) => id.replace(/-/g, '').slice(0, 16);
  const siblings = Array.from({ length: 200 }, (_, i) =>
    entryUuidOf(LOCATION, `music/album/track-${i}.flac`),
  );
  expect(new Set(siblings.map(prefix)).size).toBe(1);
  expect(new Set(siblings).size).toBe(200);
  // The directory itself lives with its own parent's children, not with its children.
  expect(prefix(entryUuidOf(LOCATION, 'music/album'))).toBe(prefix(entryUuidOf(LOCATION, 'music/other')));
  expect(prefix(entryUuidOf(LOCATION, 'music/album'))).not.toBe(prefix(siblings[0]));
  // Top-level entries form one group per location; other directories and locations sort apart.
  expect(prefix(entryUuidOf(LOCATION, 'a'))).toBe(prefix(entryUuidOf(LOCATION, 'b')));
  expect(prefix(entryUuidOf(LOCATION, 'music/x'))).not.toBe(prefix(entryUuidOf(LOCATION, 'video/x')));
  // The location's bytes lead, so one location's entries form one range.
  const other = 'd5a1a8e6-2f0e-4a43-9d53-3c1f0a3b4c5d';
  expect(entryUuidOf(LOCATION, 'x').slice(0, 8)).toBe(entryUuidOf(LOCATION, 'deep/down/y').slice(0, 8));
  expect(entryUuidOf(other, 'x').slice(0, 8)).not.toBe(entryUuidOf(LOCATION, 'x').slice(0, 8));
});

test('200,000 paths in a few directories give 200,000 distinct ids', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 200_000; i++) ids.add(entryUuidOf(LOCATION, `dir-${i % 7}/file-${i}`));
  expect(ids.size).toBe(200_000);
});

test('entry ids keep their values, whatever was derived just before (the last directory is remembered)', () => {
  // Values of the layout as first released: stored entries and a repeated run must derive the same.
  expect(entryUuidOf(LOCATION, 'photos/2024/a.jpg')).toBe('10fa003c-f8c2-8c44-b6e4-b821f88c06c4');
  expect(entryUuidOf(LOCATION, 'a')).toBe('10fa003c-3144-8c7f-8b3b-64fe300a36dc');
  const sha = (text: string) => createHash('sha256').update(text).digest();
  const reference = (location: string, relativePath: string) => {
    const slash = relativePath.lastIndexOf('/');
    const parent = slash < 0 ? '' : relativePath.slice(0, slash);
    const bytes = Buffer.concat([
      sha(`location:${location}`).subarray(0, 4),
      sha(`directory:${location}:${parent}`).subarray(0, 4),
      sha(`entry:${location}:${relativePath}`).subarray(0, 8),
    ]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
  const other = 'd5a1a8e6-2f0e-4a43-9d53-3c1f0a3b4c5d';
  // Same parent text in two locations, a parent and its child, the root, and back again.
  const calls: [string, string][] = [
    [LOCATION, 'm/a'],
    [LOCATION, 'm/b'],
    [other, 'm/a'],
    [other, 'm/b'],
    [LOCATION, 'm/c'],
    [LOCATION, 'm'],
    [LOCATION, 'm/a/deep'],
    [LOCATION, 'top'],
    [other, 'top'],
    [LOCATION, 'm/d'],
  ];
  for (const [location, relativePath] of calls) {
    expect([location, relativePath, entryUuidOf(location, relativePath)]).toEqual([
      location,
      relativePath,
      reference(location, relativePath),
    ]);
  }
});
