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

test.each([
  ['a commit lands between the page’s probe and its row read', true],
  ['no commit lands in between (control)', false],
])(
  'a caught-up page covers only what it handed over, so a version lost with the server’s newer one still comes back from a relay: %s',
  async (_label, race) => {
    const TAG = '7a2b3c4d-2222-4333-8444-555566667777';
    const namesOf = async (library: Library) =>
      (await library.db.read.query<{ name: string }>('SELECT name FROM tags WHERE uuid = ?', [TAG])).map(
        (row) => row.name,
      );
    const [first, r, z] = await createMembers(3);
    let x = first;
    const file = x.db.file;
    await x.write((tx) => tx.put('tag', { uuid: TAG, name: 'v by x', color: '' }));
    await syncOnce(z, x, { types: ['tag'] });
    await x.close();
    fs.copyFileSync(file, `${file}.backup`);
    x = await Library.open(file);
    if (race) {
      // X replaces v with w right after the page's probe fixed its bound: the rows read then hold
      // neither (v left its seq, w is above the bound). A page still called caught up would hand R
      // a claim on X's lineage up to w.
      const read = x.db.read;
      const spy = jest.spyOn(x.db, 'read', 'get').mockReturnValue({
        dialect: read.dialect,
        query: async (text, params) => {
          const rows = await read.query(text, params);
          if (text.trimStart().startsWith('WITH firsts') && text.includes('FROM tags')) {
            spy.mockRestore();
            await x.write((tx) => tx.put('tag', { uuid: TAG, name: 'w by x', color: '' }));
          }
          return rows as never;
        },
      });
    }
    await syncOnce(r, x, { types: ['tag'] });
    // X is restored from the backup before anyone took w (a new epoch): v is X's version again.
    await x.close();
    fs.renameSync(`${file}.backup`, file);
    x = await Library.open(file);
    await syncOnce(r, x, { types: ['tag'] });
    await syncOnce(r, z, { types: ['tag'] });
    expect(await namesOf(x)).toEqual(['v by x']);
    expect(await namesOf(z)).toEqual(['v by x']);
    // R took v, or w before the restore; never neither.
    expect(await namesOf(r)).toEqual([expect.stringMatching(/^(v|w) by x$/)]);
    for (const library of [x, r, z]) await library.close();
  },
);
