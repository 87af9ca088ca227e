/**
 * `putAll` is `put` of each record in order, without a promise per row (the indexer's bulk
 * path): every row stored with a seq of its own in one commit, a refused record taking the whole
 * transaction back, and buffered puts and deletes of one uuid applied in the order they were made.
 */
import { createLibrary, removeTempDirs } from './fixtures';
import { fixedUuid, hasRow, hasTombstone } from './scenario-helpers';
import { Library } from '../src/library';

let library: Library;

beforeEach(async () => {
  library = await createLibrary();
});

afterEach(async () => {
  await library.close();
});

afterAll(removeTempDirs);

const tag = (n: number) => ({ uuid: fixedUuid(7, n), name: `tag ${n}`, color: '' });

// More rows than one flush takes (2,000): rows after a flush must not go to a buffer already written.
const MANY = 5_000;

test('putAll stores every row, each with the next seq in order, in one commit', async () => {
  const head = await library.headSeq();
  const tags = Array.from({ length: MANY }, (_, n) => tag(n + 1));
  await library.write((tx) => tx.putAll('tag', tags));

  const rows = await library.db.read.query<{ uuid: string; name: string; seq: number }>(
    'SELECT uuid, name, seq FROM tags ORDER BY seq',
  );
  expect(rows.map((row) => [row.uuid, row.name])).toEqual(tags.map((t) => [t.uuid, t.name]));
  expect(rows.map((row) => row.seq)).toEqual(tags.map((_, n) => head + n + 1));
  expect(await library.headSeq()).toBe(head + MANY);
});

test('putAll of nothing writes nothing', async () => {
  const head = await library.headSeq();
  await library.write((tx) => tx.putAll('tag', []));
  expect(await library.headSeq()).toBe(head);
});

test.each([
  ['a malformed uuid', { uuid: 'not-a-uuid', name: 'bad', color: '' }],
  ['an empty name', { uuid: fixedUuid(7, 99_999), name: '', color: '' }],
])('a record with %s refuses the whole transaction: no row before it is kept', async (_, bad) => {
  const head = await library.headSeq();
  const records = [...Array.from({ length: 2_500 }, (_, n) => tag(n + 1)), bad, tag(3_000)];
  await expect(library.write((tx) => tx.putAll('tag', records))).rejects.toMatchObject({
    code: 'INVALID_ARGUMENT',
  });
  expect(await library.headSeq()).toBe(head);
  const [{ count }] = await library.db.read.query<{ count: number }>('SELECT count(*) AS count FROM tags');
  expect(Number(count)).toBe(0);
});

test('puts and deletes of one uuid in a transaction apply in the order they were made', async () => {
  await library.write(async (tx) => {
    await tx.putAll('tag', [tag(1), tag(2)]);
    await tx.delete('tag', fixedUuid(7, 1));
    await tx.putAll('tag', [tag(2), tag(1)]);
    await tx.delete('tag', fixedUuid(7, 2));
  });
  expect(await hasRow(library, 'tag', fixedUuid(7, 1))).toBe(true);
  expect(await hasTombstone(library, 'tag', fixedUuid(7, 1))).toBe(false);
  expect(await hasRow(library, 'tag', fixedUuid(7, 2))).toBe(false);
  expect(await hasTombstone(library, 'tag', fixedUuid(7, 2))).toBe(true);
});
