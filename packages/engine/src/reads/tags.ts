import { Tag, TagAssignment } from '@tidemark/proto';
import { recordFromRow } from '../records';
import { columnsOf, RESOURCE_TABLES, StoredRow } from '../store/resource-tables';
import { ReadScope, runnerOf } from './scope';
import { selectRecords } from './stored-records';

export interface TagWithAssignments {
  readonly tag: Tag;
  /** Tag assignments of the tag: contents tagged with it. */
  readonly assignments: number;
}

/** Every tag with its assignment count, by name then uuid (a library has few; no paging). */
export async function readTags(scope: ReadScope): Promise<TagWithAssignments[]> {
  const columns = columnsOf(RESOURCE_TABLES.tag).map((column) => `t.${column}`);
  const rows = await (
    await runnerOf(scope)
  ).query<StoredRow & { assignments: number }>(
    `SELECT ${columns.join(', ')},
            (SELECT count(*) FROM tag_assignments a WHERE a.tag_uuid = t.uuid) AS assignments
     FROM tags t ORDER BY t.name, t.uuid`,
  );
  return rows.map((row) => ({ tag: recordFromRow('tag', row) as Tag, assignments: row.assignments }));
}

/** The assignments of a tag, to one content when `contentUuid` is given, in uuid order. */
export async function readTagAssignments(
  scope: ReadScope,
  tagUuid: string,
  contentUuid?: string,
): Promise<TagAssignment[]> {
  return selectRecords(
    await runnerOf(scope),
    'tag_assignment',
    `WHERE tag_uuid = ? ${contentUuid === undefined ? '' : 'AND content_uuid = ?'} ORDER BY uuid`,
    contentUuid === undefined ? [tagUuid] : [tagUuid, contentUuid],
  );
}

/**
 * Where a tag assignment names a tag that is deleted here (a tombstone, no row): a tag removed on
 * one device while another assigned it. `tidemark tag rm` deletes the assignments it holds in the
 * same commit, but not one made elsewhere at the same time, which arrives afterwards and stays
 * on every device, hidden. A tag that is merely not here yet (rows of two types may arrive in
 * any order) does not count.
 */
const OF_DELETED_TAG = `NOT EXISTS (SELECT 1 FROM tags t WHERE t.uuid = a.tag_uuid)
  AND EXISTS (SELECT 1 FROM tombstones d WHERE d.resource_type = 'tag' AND d.uuid = a.tag_uuid)`;

/** How many tag assignments name a tag deleted here (see OF_DELETED_TAG). */
export async function countAssignmentsOfDeletedTags(scope: ReadScope): Promise<number> {
  const [row] = await (
    await runnerOf(scope)
  ).query<{ n: number }>(`SELECT count(*) AS n FROM tag_assignments a WHERE ${OF_DELETED_TAG}`);
  return Number(row?.n ?? 0);
}

/** Up to `limit` uuids of tag assignments of deleted tags, after `after`, in uuid order. */
export async function readAssignmentsOfDeletedTags(
  scope: ReadScope,
  after: string,
  limit: number,
): Promise<string[]> {
  const rows = await (
    await runnerOf(scope)
  ).query<{ uuid: string }>(
    `SELECT a.uuid FROM tag_assignments a WHERE a.uuid > ? AND ${OF_DELETED_TAG} ORDER BY a.uuid LIMIT ${Math.max(1, Math.floor(limit))}`,
    [after],
  );
  return rows.map((row) => row.uuid);
}
