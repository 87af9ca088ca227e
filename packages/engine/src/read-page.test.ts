/**
 * Paging by keyset on seq (`readPage`): rows and tombstones together, in seq order, each seq
 * exactly once, and `caughtUp` on the page that ends the type, including a last page that is
 * exactly full (so a follower is told at once, without one more empty read).
 */
import { EntryKind } from '@tidemark/proto';
import { createLibrary, removeTempDirs } from '../test/fixtures';
import { fixedUuid } from '../test/scenario-helpers';
import { Library } from './library';
import { readPage } from './serve';

const LIMIT = 7;

afterAll(removeTempDirs);

/** A library whose entry type holds `rows` rows, then `deleted` of them turned into tombstones. */
async function libraryWith(rows: number, deleted: number): Promise<Library> {
  const library = await createLibrary();
  await library.write(async (tx) => {
    for (let index = 0; index < rows; index++) {
      await tx.put('entry', {
        uuid: fixedUuid(1, index),
        deviceUuid: library.identity.deviceId,
        locationUuid: fixedUuid(2, 1),
        parentUuid: '',
        relativePath: `file-${index}`,
        kind: EntryKind.ENTRY_KIND_FILE,
        sizeBytes: index,
        modifiedAtMs: 1,
        contentUuid: '',
      });
    }
    // Every other row from the start: tombstones take new seqs, after the remaining rows.
    for (let index = 0; index < deleted; index++) await tx.delete('entry', fixedUuid(1, index * 2));
  });
  return library;
}

test.each([
  [0, 0],
  [1, 0],
  [LIMIT - 1, 0],
  [LIMIT, 0],
  [LIMIT + 1, 0],
  [2 * LIMIT, 0],
  [LIMIT, 3],
  [2 * LIMIT - 3, 3],
  [3 * LIMIT, LIMIT],
])('%i rows with %i deleted: pages cover every seq once, caught up on the last', async (rows, deleted) => {
  const library = await libraryWith(rows, deleted);
  try {
    // A delete replaces its row with a tombstone: the type still holds `rows` items.
    const items = rows;
    const pages = [];
    let afterSeq = 0;
    for (;;) {
      const page = await readPage(library.db.read, 'entry', afterSeq, LIMIT);
      pages.push(page);
      if (page.caughtUp) break;
      expect(page.lastSeq).toBeGreaterThan(afterSeq);
      afterSeq = page.lastSeq;
    }
    const sizes = pages.map((page) => page.records.length + page.tombstones.length);
    // Full pages, then one page holding the rest; an exactly full last page ends the type.
    const expected =
      items === 0
        ? [0]
        : Array.from({ length: Math.ceil(items / LIMIT) }, (_, i) => Math.min(LIMIT, items - i * LIMIT));
    expect(sizes).toEqual(expected);
    expect(pages.map((page) => page.tombstones.length).reduce((sum, n) => sum + n, 0)).toBe(deleted);
    const uuids = pages.flatMap((page) => [
      ...page.records.map((record) => (record.kind!.value as { uuid: string }).uuid),
      ...page.tombstones.map((tombstone) => tombstone.uuid),
    ]);
    expect(new Set(uuids).size).toBe(items);
    // After the last page there is nothing: the cursor ends at the type's head.
    const after = await readPage(library.db.read, 'entry', pages[pages.length - 1].lastSeq, LIMIT);
    expect([after.records.length, after.tombstones.length, after.caughtUp]).toEqual([0, 0, true]);
  } finally {
    await library.close();
  }
});
