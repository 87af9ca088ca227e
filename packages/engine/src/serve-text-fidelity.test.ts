/**
 * Strings travel SQLite -> page -> wire -> peer's SQLite, and both write paths pass rows to
 * SQLite as JSON text (row-writer.ts). They must come out exactly as stored: quotes,
 * backslashes, control characters, non-BMP characters, 4 KiB of multi-byte text; counts at the
 * 2^53 edge stay exact. A NUL is refused at both doors, because node-sqlite3 reads strings only
 * up to it. Control characters are allowed in free text (a collection's description) only;
 * names and paths refuse them (test/field-bounds.test.ts), so they get the other strings.
 */
import { EntryKind, StateBatch, Tag } from '@tidemark/proto';
import { createLibrary, removeTempDirs } from '../test/fixtures';
import { fixedUuid } from '../test/scenario-helpers';
import { digestsOf, syncOnce } from '../test/sync-helpers';
import { Library } from './library';
import { readPage } from './serve';
import { resourceTypeOf } from './resource-types';
import { RESOURCE_TABLES } from './store/resource-tables';
import { MAX_TEXT_BYTES } from './validate';
import { applyBatch } from './apply';
import { MalformedBatchError, TidemarkError } from './errors';

afterAll(removeTempDirs);

const AWKWARD = [
  'plain',
  'quote " and \\ backslash and \\" both',
  'line\nbreak\r\ttab',
  'controls \u0001\u001f\u007f inside',
  'emoji 🦀 and 𝄞 beyond the BMP',
  'e\u0301 combining, עברית right-to-left, 日本語',
  '\u2028 line separator \u2029 paragraph separator',
  '[1, 2] {"json": "looking"}',
  'é'.repeat(MAX_TEXT_BYTES / 2),
];

/** AWKWARD without control characters, for paths and names. */
// eslint-disable-next-line no-control-regex
const PRINTABLE = AWKWARD.map((text) => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' '));

let a: Library;
let b: Library;

beforeAll(async () => {
  a = await createLibrary();
  b = await createLibrary({ libraryId: a.identity.libraryId });
  const location = fixedUuid(1, 1);
  await a.write(async (tx) => {
    for (const [index, text] of PRINTABLE.entries()) {
      await tx.put('entry', {
        uuid: fixedUuid(2, index),
        deviceUuid: a.identity.deviceId,
        locationUuid: location,
        parentUuid: '',
        relativePath: text,
        kind: EntryKind.ENTRY_KIND_FILE,
        sizeBytes: Number.MAX_SAFE_INTEGER - index,
        modifiedAtMs: index,
        contentUuid: '',
      });
      await tx.put('tag', {
        uuid: fixedUuid(3, index),
        name: text.slice(0, 60) || 'x',
        color: text.slice(0, 80),
      });
      await tx.put('collection', {
        uuid: fixedUuid(5, index),
        name: `c${index}`,
        description: AWKWARD[index],
      });
    }
  });
});

afterAll(async () => {
  await b.close();
  await a.close();
});

test('a page carries every stored string and count exactly', async () => {
  const page = await readPage(a.db.read, 'entry', 0, 100);
  const stored = await a.db.read.query<{ relative_path: string; size_bytes: number }>(
    `SELECT relative_path, size_bytes FROM ${RESOURCE_TABLES.entry.table} ORDER BY seq`,
  );
  expect(stored.map((row) => row.relative_path)).toEqual(PRINTABLE);
  const served = page.records.map(
    (record) => record.kind!.value as { relativePath: string; sizeBytes: number },
  );
  expect(served.map((entry) => entry.relativePath)).toEqual(PRINTABLE);
  const collections = await readPage(a.db.read, 'collection', 0, 100);
  expect(
    collections.records.map((record) => (record.kind!.value as { description: string }).description),
  ).toEqual(AWKWARD);
  expect(served.map((entry) => entry.sizeBytes)).toEqual(AWKWARD.map((_, i) => Number.MAX_SAFE_INTEGER - i));
});

test('a peer stores the same strings: rows and digests equal', async () => {
  await syncOnce(b, a);
  for (const table of ['entries', 'tags', 'collections']) {
    const query = `SELECT * FROM ${table} ORDER BY uuid`;
    const theirs = await a.db.read.query<{ [column: string]: unknown }>(query);
    const ours = await b.db.read.query<{ [column: string]: unknown }>(query);
    // Seqs and lineage ids are local to each database.
    const portable = ({ seq: _seq, origin_lineage: _lineage, ...row }: { [column: string]: unknown }) => row;
    expect(ours.map(portable)).toEqual(theirs.map(portable));
  }
  const [ours, theirs] = [await digestsOf(b), await digestsOf(a)];
  expect([ours.entry, ours.tag, ours.collection]).toEqual([theirs.entry, theirs.tag, theirs.collection]);
});

test("a NUL in a string is refused on write and in a peer's batch; nothing is stored", async () => {
  const entry = {
    uuid: fixedUuid(4, 1),
    deviceUuid: a.identity.deviceId,
    locationUuid: fixedUuid(1, 1),
    parentUuid: '',
    relativePath: 'cut\u0000here',
    kind: EntryKind.ENTRY_KIND_FILE,
    sizeBytes: 1,
    modifiedAtMs: 1,
    contentUuid: '',
  };
  const refused = a.write((tx) => tx.put('entry', entry));
  await expect(refused).rejects.toThrow(TidemarkError);
  await expect(refused).rejects.toThrow(/NUL/);

  const page = await readPage(a.db.read, 'tag', 0, 1);
  const tag = page.records[0].kind!.value as Tag;
  const batch: StateBatch = {
    resourceType: resourceTypeOf('tag'),
    records: [{ kind: { $case: 'tag', value: { ...tag, color: 'a\u0000b' } } }],
    tombstones: [],
    checkpoint: {
      resourceType: resourceTypeOf('tag'),
      epoch: a.identity.epoch,
      seq: page.lastSeq,
      hlc: undefined,
      covered: [],
      commitId: '',
    },
    remaining: 0,
    caughtUp: true,
    recordOriginSeqs: [],
    recordOriginEpochs: [],
    originEpochs: [],
    heldSkipped: 0,
    reset: false,
  };
  const c = await createLibrary({ libraryId: a.identity.libraryId });
  try {
    await expect(applyBatch(c, a.identity.deviceId, batch)).rejects.toThrow(MalformedBatchError);
    expect(await c.db.read.query('SELECT uuid FROM tags')).toEqual([]);
  } finally {
    await c.close();
  }
});
