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
