import { Tombstone } from '@tidemark/proto';
import { tombstoneFromRow } from '../records';
import { RecordOf, ResourceName } from '../resource-types';
import { RESOURCE_TABLES, StoredRow } from '../store/resource-tables';
import { keysetPages, PagedReadOptions, pageSizeOf } from './paging';
import { ReadScope, runnerOf } from './scope';
import { selectRecord, selectRecords } from './stored-records';

/**
 * Uuids looked up per statement, bound as one JSON array (not a parameter each): an indexer asks
 * about a whole write batch (5,000) at once, and each statement is a round trip to SQLite's
 * thread that waits for the event loop; at 500 a first index of 1M files made 2,000 of them.
 */
const UUIDS_PER_STATEMENT = 5_000;

/** The record of `uuid`, if `scope` holds it as a row (a deleted one is a tombstone, not a record). */
export async function readRecord<N extends ResourceName>(
  scope: ReadScope,
  name: N,
  uuid: string,
): Promise<RecordOf[N] | undefined> {
  return selectRecord(await runnerOf(scope), name, uuid);
}

/** Every record of one resource type, in uuid order, read page by page. */
export async function* readRecords<N extends ResourceName>(
  scope: ReadScope,
  name: N,
  options: PagedReadOptions = {},
): AsyncGenerator<RecordOf[N], void, undefined> {
  yield* keysetPages<RecordOf[N], string>(pageSizeOf(options), async (after, limit) => {
    const items = await selectRecords(
      await runnerOf(scope),
      name,
      `WHERE uuid > ? ORDER BY uuid LIMIT ${limit}`,
      // Every uuid sorts after '': the first page starts at the beginning.
      [after ?? ''],
    );
    return { items, last: items.at(-1)?.uuid };
  });
}

/** Which of `uuids` `scope` holds as rows of the type: what a writer may skip rewriting. */
export async function readHeldUuids(
  scope: ReadScope,
  name: ResourceName,
  uuids: readonly string[],
): Promise<Set<string>> {
  const sql = await runnerOf(scope);
  const held = new Set<string>();
  for (let start = 0; start < uuids.length; start += UUIDS_PER_STATEMENT) {
    const chunk = uuids.slice(start, start + UUIDS_PER_STATEMENT);
    const rows = await sql.query<{ uuid: string }>(
      `SELECT uuid FROM ${RESOURCE_TABLES[name].table}
       WHERE uuid IN (SELECT value FROM ${sql.dialect.jsonTexts('?', 'wanted')})`,
      [JSON.stringify(chunk)],
    );
    for (const row of rows) held.add(row.uuid);
  }
  return held;
}

/** Every tombstone of one resource type (what was deleted, by whom, when), in uuid order. */
export async function* readTombstones(
  scope: ReadScope,
  name: ResourceName,
  options: PagedReadOptions = {},
): AsyncGenerator<Tombstone, void, undefined> {
  yield* keysetPages<Tombstone, string>(pageSizeOf(options), async (after, limit) => {
    const rows = await (
      await runnerOf(scope)
    ).query<StoredRow>(
      `SELECT uuid, hlc, origin FROM tombstones WHERE resource_type = ? AND uuid > ? ORDER BY uuid LIMIT ${limit}`,
      [name, after ?? ''],
    );
    const items = rows.map((row) => tombstoneFromRow(name, row));
    return { items, last: items.at(-1)?.uuid };
  });
}
