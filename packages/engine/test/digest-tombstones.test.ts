/**
 * Tombstones are part of what a digest verifies: two copies that disagree on a delete never
 * verify as equal, whether they disagree on which version of the delete they hold or on whether
 * they hold it at all.
 */
import { createMembers, removeTempDirs, TestClock } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { pull } from './sync-helpers';
import { digestResource, digestsEqual } from '../src/digest';
import { Library } from '../src/library';

const SECOND = 1_000;
const KEPT = fixedUuid(5, 1);
const DELETED = fixedUuid(5, 2);
let members: Library[] = [];
let clock: TestClock;

beforeEach(async () => {
  clock = new TestClock();
  members = await createMembers(2, { clock: { now: clock.now } });
});

afterEach(async () => {
  for (const member of members) await member.close();
});

afterAll(removeTempDirs);

const tagDigest = (library: Library) => digestResource(library.db.read, 'tag');

async function tombstonesOf(library: Library): Promise<string[]> {
  const rows = await library.db.read.query<{ uuid: string; hlc: string; origin: string }>(
    "SELECT uuid, hlc, origin FROM tombstones WHERE resource_type = 'tag'",
  );
  return rows.map((row) => `${row.uuid} ${row.hlc} ${row.origin}`);
}

/** A writes both tags and B pulls them: from here on the two copies agree. */
async function shareTwoTags(): Promise<[Library, Library]> {
  const [a, b] = members;
  clock.advance(SECOND);
  await a.write(async (tx) => {
    await tx.put('tag', { uuid: KEPT, name: 'kept', color: '' });
    await tx.put('tag', { uuid: DELETED, name: 'deleted', color: '' });
  });
  await pull(b, a);
  expect(digestsEqual(await tagDigest(a), await tagDigest(b))).toBe(true);
  return [a, b];
}

test('a digest changes when only a tombstone differs', async () => {
  const [a, b] = await shareTwoTags();
  // Both delete the same tag, at different times: same rows, same counts, different tombstones.
  clock.advance(SECOND);
  await a.write((tx) => tx.delete('tag', DELETED));
  clock.advance(SECOND);
  await b.write((tx) => tx.delete('tag', DELETED));
  const [ofA, ofB] = [await tagDigest(a), await tagDigest(b)];
  expect([ofA.rowCount, ofA.tombstoneCount]).toEqual([1, 1]);
  expect([ofB.rowCount, ofB.tombstoneCount]).toEqual([1, 1]);
  expect(await tombstonesOf(a)).not.toEqual(await tombstonesOf(b));

  expect(Buffer.compare(ofA.hash, ofB.hash)).not.toBe(0);
  expect(digestsEqual(ofA, ofB)).toBe(false);

  // Once both hold the newer tombstone they verify as equal again.
  await pull(a, b);
  expect(await tombstonesOf(a)).toEqual(await tombstonesOf(b));
  expect(digestsEqual(await tagDigest(a), await tagDigest(b))).toBe(true);
});

test('a digest counts and hashes a tombstone the other copy does not hold', async () => {
  const [a, b] = await shareTwoTags();
  clock.advance(SECOND);
  await a.write((tx) => tx.delete('tag', DELETED));
  // B still holds the row; a copy that lost the row without a tombstone must differ too.
  const [ofA, ofB] = [await tagDigest(a), await tagDigest(b)];
  expect([ofA.rowCount, ofA.tombstoneCount]).toEqual([1, 1]);
  expect([ofB.rowCount, ofB.tombstoneCount]).toEqual([2, 0]);
  expect(digestsEqual(ofA, ofB)).toBe(false);

  await b.write((tx) => tx.delete('tag', DELETED));
  await b.db.writeTransaction((sql) => sql.query("DELETE FROM tombstones WHERE resource_type = 'tag'"));
  const withoutTombstone = await tagDigest(b);
  expect([withoutTombstone.rowCount, withoutTombstone.tombstoneCount]).toEqual([1, 0]);
  expect(digestsEqual(ofA, withoutTombstone)).toBe(false);
  expect(Buffer.compare(ofA.hash, withoutTombstone.hash)).not.toBe(0);
});
