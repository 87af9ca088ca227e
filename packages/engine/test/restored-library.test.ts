import * as fs from 'node:fs';
import { Library } from '../src/library';
import { createMembers, removeTempDirs } from './fixtures';
import { countRows, syncOnce } from './sync-helpers';

afterAll(removeTempDirs);

async function addTags(library: Library, prefix: string, count: number): Promise<void> {
  await library.write(async (tx) => {
    for (let i = 0; i < count; i++) {
      await tx.put('tag', { uuid: crypto.randomUUID(), name: `${prefix}-${i}`, color: '' });
    }
  });
}

test('a library restored from a backup takes a new epoch, so writes made after the restore are not skipped by peers', async () => {
  const [first, b] = await createMembers(2);
  let a = first;
  const file = a.db.file;
  await addTags(a, 'before-backup', 5);
  await a.close();
  fs.copyFileSync(file, `${file}.backup`);
  a = await Library.open(file);
  const epochBefore = a.identity.epoch;
  await addTags(a, 'after-backup', 5);
  await syncOnce(b, a);
  expect(await countRows(b, 'tags')).toBe(10);

  // Restore: the backup replaces the file. Its seqs are behind B's cursor for A.
  await a.close();
  fs.renameSync(`${file}.backup`, file);
  a = await Library.open(file);
  expect(a.identity.epoch).not.toBe(epochBefore);
  await addTags(a, 'after-restore', 5);
  await syncOnce(b, a);
  const names = await b.db.read.query<{ name: string }>(
    "SELECT name FROM tags WHERE name LIKE 'after-restore-%'",
  );
  expect(names).toHaveLength(5);

  // Reopening the same file again keeps the epoch: only a different file rotates it.
  const epochAfterRestore = a.identity.epoch;
  await a.close();
  a = await Library.open(file);
  expect(a.identity.epoch).toBe(epochAfterRestore);
  await a.close();
  await b.close();
});
