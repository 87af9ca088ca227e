/**
 * Anti-entropy and the Digest call digest a SQLite library on a thread of its own: reading and
 * hashing a page of 5,000 rows held the event loop for 5-25 ms, and every statement of an apply
 * transaction in the same process waited behind it (a follow batch applied during a digest took
 * 150-300 ms). The claim is tested by where the rows are hashed, not by timing: the calling
 * thread hashes none of them, and the digest is the one the read connection computes.
 */
import { DigestAccumulator, digestOfStore, digestResource } from '../src/digest';
import { RESOURCE_NAMES } from '../src/resource-types';
import { DigestThread } from '../src/store/digest-thread';
import { createLibrary } from './fixtures';
import { fixedUuid, libraryOfTagsForFile } from './scenario-helpers';

/** More than two pages of the digest's reads, and a tombstone. */
const TAGS = 12_001;
const tags = libraryOfTagsForFile(TAGS, (tx) => tx.delete('tag', fixedUuid(5, 7)));

const text = (digest: { rowCount: number; tombstoneCount: number; hash: Uint8Array; seq: number }) =>
  `${digest.rowCount}/${digest.tombstoneCount}/${Buffer.from(digest.hash).toString('hex')}/${digest.seq}`;

afterEach(() => jest.restoreAllMocks());

test('a digest hashes none of its rows on the calling thread', async () => {
  const hashes = jest.spyOn(DigestAccumulator.prototype, 'add');
  const digest = await digestOfStore(tags.library.db, 'tag');
  expect(digest.rowCount + digest.tombstoneCount).toBe(TAGS);
  expect(hashes).not.toHaveBeenCalled();
  // The spy sees the hashing where it does happen on this thread: the read connection's digest.
  await digestResource(tags.library.db.read, 'tag');
  expect(hashes).toHaveBeenCalledTimes(TAGS);
});

test("the thread's digest of every type is the read connection's", async () => {
  const other = fixedUuid(9, 1);
  for (const excludeOrigins of [[], [tags.library.identity.deviceId], [other]]) {
    for (const name of RESOURCE_NAMES) {
      const onThread = await digestOfStore(tags.library.db, name, { excludeOrigins });
      const onReader = await digestResource(tags.library.db.read, name, { excludeOrigins });
      expect(text(onThread)).toBe(text(onReader));
    }
  }
});

test('a cancelled digest stops with UNAVAILABLE, and the next one runs', async () => {
  const cancel = new AbortController();
  const running = digestOfStore(tags.library.db, 'tag', { signal: cancel.signal });
  cancel.abort();
  await expect(running).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  expect((await digestOfStore(tags.library.db, 'tag')).tombstoneCount).toBe(1);
});

test('closing the library ends a digest in flight with CLOSED, and later ones too', async () => {
  const library = await createLibrary();
  await library.write(async (tx) => {
    for (let n = 0; n < 6_000; n++) await tx.put('tag', { uuid: fixedUuid(6, n), name: `t${n}`, color: '' });
  });
  const running = expect(digestOfStore(library.db, 'tag')).rejects.toMatchObject({ code: 'CLOSED' });
  await library.close();
  await running;
  await expect(digestOfStore(library.db, 'tag')).rejects.toMatchObject({ code: 'CLOSED' });
});

test('the thread ends once idle, and the next digest starts another', async () => {
  const thread = new DigestThread(tags.library.db.file, 15_000, 50);
  try {
    const first = await thread.digest('tag');
    expect(thread.running).toBe(true);
    for (const deadline = Date.now() + 30_000; thread.running && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(thread.running).toBe(false);
    expect(text(await thread.digest('tag'))).toBe(text(first));
  } finally {
    await thread.close();
  }
});
