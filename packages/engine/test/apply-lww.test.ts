/**
 * Last-writer-wins by (hlc, origin) at apply: every device picks the same winner whatever order
 * the versions reach it in, and a stale version (row or tombstone) never overwrites a newer one.
 */
import { createMembers, removeTempDirs, TestClock } from './fixtures';
import { fixedUuid, hasRow } from './scenario-helpers';
import { digestsOf, pull } from './sync-helpers';
import { Library } from '../src/library';
import { WriteTransaction } from '../src/write-path';

const SECOND = 1_000;
const TAG = fixedUuid(5, 1);
let members: Library[] = [];
let clock: TestClock;

beforeEach(async () => {
  // One wall clock that only moves when a test says so: two devices writing at the same
  // moment get the same HLC, which is what a tie needs.
  clock = new TestClock();
  members = await createMembers(4, { clock: { now: clock.now } });
});

afterEach(async () => {
  for (const member of members) await member.close();
});

afterAll(removeTempDirs);

/** What a library holds of the tag: its row ("r name hlc origin") or tombstone ("t hlc origin"). */
async function tagVersion(library: Library): Promise<string> {
  const [row] = await library.db.read.query<{ name: string; hlc: string; origin: string }>(
    'SELECT name, hlc, origin FROM tags WHERE uuid = ?',
    [TAG],
  );
  const [tombstone] = await library.db.read.query<{ hlc: string; origin: string }>(
    "SELECT hlc, origin FROM tombstones WHERE resource_type = 'tag' AND uuid = ?",
    [TAG],
  );
  if (row && tombstone) return `both: r ${row.name} ${row.hlc} ${row.origin}, t ${tombstone.hlc}`;
  if (row) return `r ${row.name} ${row.hlc} ${row.origin}`;
  return tombstone ? `t ${tombstone.hlc} ${tombstone.origin}` : 'none';
}

const putTag = (name: string) => (tx: WriteTransaction) => tx.put('tag', { uuid: TAG, name, color: '' });
const deleteTag = (tx: WriteTransaction) => tx.delete('tag', TAG);

/** Two devices write the tag at the same wall-clock moment, so their versions tie on HLC. */
async function writeTied(
  first: Library,
  firstWrite: (tx: WriteTransaction) => Promise<void>,
  second: Library,
  secondWrite: (tx: WriteTransaction) => Promise<void>,
): Promise<void> {
  clock.advance(SECOND);
  await first.write(firstWrite);
  await second.write(secondWrite);
  const [firstVersion, secondVersion] = [await tagVersion(first), await tagVersion(second)];
  const hlcOf = (version: string) => version.split(' ').at(-2);
  expect(hlcOf(firstVersion)).toBe(hlcOf(secondVersion));
  expect(firstVersion).not.toBe(secondVersion);
}

describe('two origins tied on HLC: the same winner whatever the sync order', () => {
  test.each([
    ['two edits', putTag('from the first'), putTag('from the second')],
    ['an edit and a delete', putTag('kept?'), deleteTag],
    ['a delete and an edit', deleteTag, putTag('kept?')],
  ])('%s', async (_, firstWrite, secondWrite) => {
    const [a, b, c, d] = members;
    await writeTied(a, firstWrite, b, secondWrite);
    const winner = a.identity.deviceId > b.identity.deviceId ? await tagVersion(a) : await tagVersion(b);

    await pull(c, a);
    await pull(c, b);
    await pull(d, b);
    await pull(d, a);
    expect([await tagVersion(c), await tagVersion(d)]).toEqual([winner, winner]);

    // The writers converge on it too, each having applied the other's version last.
    await pull(a, b);
    await pull(b, a);
    expect([await tagVersion(a), await tagVersion(b)]).toEqual([winner, winner]);
    const digests = await Promise.all(members.map(digestsOf));
    expect(digests.map((digest) => digest.tag)).toEqual(digests.map(() => digests[0].tag));
  });
});

test('an older tombstone arriving at a device holding a newer row leaves the row', async () => {
  const [a, b] = members;
  clock.advance(SECOND);
  await a.write(putTag('original'));
  await pull(b, a);
  clock.advance(SECOND);
  await a.write(deleteTag); // the delete is older than B's edit below
  clock.advance(SECOND);
  await b.write(putTag('edited after the delete'));
  const edited = await tagVersion(b);

  await pull(b, a);
  expect(await tagVersion(b)).toBe(edited);

  // The newer row also wins where the tombstone is: A gets the row back.
  await pull(a, b);
  expect(await tagVersion(a)).toBe(edited);
  expect((await digestsOf(a)).tag).toBe((await digestsOf(b)).tag);
});

test('an older tombstone arriving at a device holding a newer tombstone keeps the newer one', async () => {
  const [a, b] = members;
  clock.advance(SECOND);
  await a.write(putTag('original'));
  await pull(b, a);
  clock.advance(SECOND);
  await a.write(deleteTag);
  clock.advance(SECOND);
  await b.write(deleteTag);
  const newer = await tagVersion(b);
  expect(newer).toMatch(/^t /);

  await pull(b, a);
  expect(await tagVersion(b)).toBe(newer);
  await pull(a, b);
  expect(await tagVersion(a)).toBe(newer);
  expect(await hasRow(a, 'tag', TAG)).toBe(false);
});
