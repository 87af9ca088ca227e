/**
 * The digest a library serves is the one docs/protocol.md defines, so a client written from the
 * protocol alone verifies its copy: the documented test vectors, computed from a library that
 * holds exactly those versions, and `exclude_origins` leaving a device's versions out while the
 * digest still reports the type's head.
 */
import { StateBatch } from '@tidemark/proto';
import { applyBatch } from '../src/apply';
import { digestResource } from '../src/digest';
import { Library } from '../src/library';
import { wrapRecord } from '../src/records';
import { resourceTypeOf } from '../src/resource-types';
import { createLibrary, removeTempDirs } from './fixtures';

// The vectors' items, as docs/protocol.md lists them.
const ORIGIN = 'fd0d5f70-520d-4654-8bb7-d45ec405de07';
const ROW = { uuid: '0b79cf7e-631e-451e-8aee-83d9646fee82', hlc: { physicalMs: 1764139200000, logical: 7 } };
const TOMBSTONE = {
  uuid: '5a0f3c1e-2b4d-4e6f-8a9b-0c1d2e3f4a5b',
  hlc: { physicalMs: 0x019abc000000, logical: 0 },
};
const EMPTY_HASH = '00'.repeat(32);
const ROW_HASH = '95fc32ac83714138d2b1851491e4998339a468f60132508e8ca2135859975c3d';
const ROW_AND_TOMBSTONE_HASH = '38599a8ebeb0cea58ed63077304256fd9bbee42dd9ecd034c81dc4547374bc56';

let library: Library;

beforeEach(async () => {
  // A wall clock just after the vectors' stamps, so the drift guard accepts them.
  library = await createLibrary({ clock: { now: () => ROW.hlc.physicalMs + 1_000 } });
});

afterEach(async () => {
  await library.close();
});

afterAll(removeTempDirs);

/** Applies one tag batch from a peer, as a sync would. */
async function applyTags(
  seq: number,
  records: readonly (typeof ROW)[],
  tombstones: readonly (typeof TOMBSTONE)[],
): Promise<void> {
  const resourceType = resourceTypeOf('tag');
  const batch: StateBatch = {
    resourceType,
    records: records.map(({ uuid, hlc }) =>
      wrapRecord('tag', { uuid, name: 'vector', color: '', hlc, origin: ORIGIN }),
    ),
    tombstones: tombstones.map(({ uuid, hlc }) => ({
      resourceType,
      uuid,
      hlc,
      origin: ORIGIN,
      originSeq: 0,
      originEpoch: '',
    })),
    checkpoint: {
      resourceType,
      epoch: 'ec000000-0000-4000-8000-000000000001',
      seq,
      hlc: undefined,
      covered: [],
      commitId: '',
    },
    remaining: 0,
    reset: false,
    caughtUp: true,
    recordOriginSeqs: [],
    recordOriginEpochs: [],
    originEpochs: [],
    heldSkipped: 0,
  };
  await applyBatch(library, ORIGIN, StateBatch.decode(StateBatch.encode(batch).finish()));
}

async function tagDigest(excludeOrigins?: readonly string[]) {
  const digest = await digestResource(library.db.read, 'tag', { excludeOrigins });
  return {
    rows: digest.rowCount,
    tombstones: digest.tombstoneCount,
    hash: Buffer.from(digest.hash).toString('hex'),
    seq: digest.seq,
  };
}

test('a library holding the documented items digests to the documented hashes', async () => {
  expect(await tagDigest()).toEqual({ rows: 0, tombstones: 0, hash: EMPTY_HASH, seq: 0 });

  await applyTags(1, [ROW], []);
  expect(await tagDigest()).toEqual({ rows: 1, tombstones: 0, hash: ROW_HASH, seq: expect.any(Number) });

  await applyTags(2, [], [TOMBSTONE]);
  expect(await tagDigest()).toMatchObject({ rows: 1, tombstones: 1, hash: ROW_AND_TOMBSTONE_HASH });
});

test('the digest seq is the highest seq digested, and the head of the type when origins are left out', async () => {
  await applyTags(1, [ROW], [TOMBSTONE]);
  await library.write((tx) => tx.put('tag', { uuid: ROW.uuid.replace('0b', '1b'), name: 'own', color: '' }));
  const [{ head }] = await library.db.read.query<{ head: number }>(
    "SELECT max(seq) AS head FROM (SELECT seq FROM tags UNION ALL SELECT seq FROM tombstones WHERE resource_type = 'tag') AS every_seq",
  );
  expect((await tagDigest()).seq).toBe(head);

  // Leaving out the peer's versions leaves only this device's own tag, and the type's head stays.
  const own = await tagDigest([ORIGIN]);
  expect(own).toMatchObject({ rows: 1, tombstones: 0, seq: head });
  expect(own.hash).not.toBe(EMPTY_HASH);
  const none = await tagDigest([ORIGIN, library.identity.deviceId]);
  expect(none).toEqual({ rows: 0, tombstones: 0, hash: EMPTY_HASH, seq: head });
});
