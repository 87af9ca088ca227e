import { randomUUID } from 'node:crypto';
import { countAssignmentsOfDeletedTags, readAssignmentsOfDeletedTags } from '../src';
import { createLibrary, removeTempDirs } from './fixtures';

afterAll(removeTempDirs);

/*
 * An assignment naming a tag deleted here (a tombstone, no row) is an orphan; one naming a tag not
 * received yet is not (rows of two types arrive in any order), nor one of a live tag.
 */
test('only assignments of a tag deleted here count as assignments of deleted tags', async () => {
  const library = await createLibrary();
  const [live, deleted, notYetHere] = [randomUUID(), randomUUID(), randomUUID()];
  const assignment = (tagUuid: string) => ({ uuid: randomUUID(), tagUuid, contentUuid: randomUUID() });
  const orphan = assignment(deleted);
  await library.write(async (tx) => {
    await tx.put('tag', { uuid: live, name: 'live', color: '' });
    await tx.put('tag', { uuid: deleted, name: 'gone', color: '' });
  });
  await library.write((tx) => tx.delete('tag', deleted));
  await library.write(async (tx) => {
    await tx.put('tag_assignment', assignment(live));
    await tx.put('tag_assignment', assignment(notYetHere));
    await tx.put('tag_assignment', orphan);
  });
  expect(await countAssignmentsOfDeletedTags(library)).toBe(1);
  expect(await readAssignmentsOfDeletedTags(library, '', 10)).toEqual([orphan.uuid]);
  expect(await readAssignmentsOfDeletedTags(library, orphan.uuid, 10)).toEqual([]);
  await library.close();
});
