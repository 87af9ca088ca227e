/**
 * A digest covers every version of its type: from the library's very first seq, and across the
 * pages it is read in, so a copy missing rows of a large type never verifies as complete.
 */
import { DigestAccumulator, digestResource } from '../src/digest';
import { fixedUuid, libraryOfTagsForFile, versionsOf } from './scenario-helpers';

/** More than two pages of the digest's reads (5,000 versions each). */
const TAGS = 10_001;
const tags = libraryOfTagsForFile(TAGS, (tx) => tx.delete('tag', fixedUuid(5, 0)));

/** The digest computed from every version the library holds, read in one query. */
async function expectedDigest(name: 'tag' | 'device'): Promise<string> {
  const accumulator = new DigestAccumulator();
  for (const version of await versionsOf(tags.library, name)) {
    const [kind, uuid, hlc, origin] = version.split('|');
    accumulator.add(kind === 'r' ? 'r' : 't', uuid, hlc, origin);
  }
  return `${accumulator.rows}/${accumulator.tombstones}/${accumulator.hash.toString('hex')}`;
}

async function servedDigest(name: 'tag' | 'device'): Promise<string> {
  const digest = await digestResource(tags.library.db.read, name);
  return `${digest.rowCount}/${digest.tombstoneCount}/${Buffer.from(digest.hash).toString('hex')}`;
}

test('a type larger than one page is digested whole', async () => {
  expect(await servedDigest('tag')).toBe(await expectedDigest('tag'));
  expect((await servedDigest('tag')).startsWith(`${TAGS - 1}/1/`)).toBe(true);
});

test("the version holding the library's first seq is digested", async () => {
  // A new library's first write is its own device row, at seq 1.
  const [{ seq }] = await tags.library.db.read.query<{ seq: number }>(
    'SELECT seq FROM devices WHERE uuid = ?',
    [tags.library.identity.deviceId],
  );
  expect(seq).toBe(1);
  expect(await servedDigest('device')).toBe(await expectedDigest('device'));
  expect((await servedDigest('device')).startsWith('1/0/')).toBe(true);
});
