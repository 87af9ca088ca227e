/**
 * A served page lists its rows in seq order. They are read as one JSON array built by an SQLite
 * aggregate, whose input order is the subquery's in practice but not by contract: the page is
 * put in seq order whatever order the aggregate returns.
 */
import { readPage } from '../src/serve';
import { SqlRunner } from '../src/store/library-database';
import { fixedUuid, libraryOfTagsForFile } from './scenario-helpers';

const TAGS = 12;
const tags = libraryOfTagsForFile(TAGS);

/** The library's reader, with every JSON array an aggregate builds rearranged by `rearrange`. */
function aggregatesRearranged(rearrange: (rows: unknown[]) => unknown[]): SqlRunner {
  return {
    dialect: tags.library.db.dialect,
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<Row[]> {
      const rows = await tags.library.db.read.query<Row>(sql, params);
      if (!sql.includes('json_group_array')) return rows;
      return rows.map((row) => {
        const { rows: json } = row as { rows: string };
        return { ...row, rows: JSON.stringify(rearrange(JSON.parse(json) as unknown[])) };
      });
    },
  };
}

const uuidsOf = (page: Awaited<ReturnType<typeof readPage>>) =>
  page.records.map((record) => record.kind!.value.uuid);

test.each([
  ['reversed', (rows: unknown[]) => [...rows].reverse()],
  ['rotated', (rows: unknown[]) => [...rows.slice(5), ...rows.slice(0, 5)]],
  ['with one pair swapped at the end', (rows: unknown[]) => [...rows.slice(0, -2), rows.at(-1), rows.at(-2)]],
])('a page is in seq order when the aggregate returns its rows %s', async (_, rearrange) => {
  const inOrder = await readPage(tags.library.db.read, 'tag', 0, 100);
  expect(uuidsOf(inOrder)).toEqual(Array.from({ length: TAGS }, (_, n) => fixedUuid(5, n)));

  const page = await readPage(aggregatesRearranged(rearrange), 'tag', 0, 100);
  expect(uuidsOf(page)).toEqual(uuidsOf(inOrder));
  expect(page.lastSeq).toBe(inOrder.lastSeq);
});
