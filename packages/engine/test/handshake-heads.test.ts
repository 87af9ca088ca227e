/**
 * Handshake heads are counted once per library head (heads.ts, ResourceHeadCache): handshakes
 * that arrive together share one count, and a write is always reflected in the next handshake.
 */
import { RESOURCE_NAMES, resourceTypeOf } from '../src/resource-types';
import { ResourceHeadCache } from '../src/heads';
import { SqlRunner } from '../src/store/library-database';
import { createLibrary, removeTempDirs } from './fixtures';

afterAll(removeTempDirs);

test('20 handshakes at once count each table once; after a write the next one counts again and sees it', async () => {
  const library = await createLibrary();
  try {
    let counts = 0;
    const read = library.db.read;
    const counting: SqlRunner = {
      dialect: read.dialect,
      query: (sql, params) => {
        if (sql.includes('count(*)')) counts += 1;
        return read.query(sql, params);
      },
    };
    const cache = new ResourceHeadCache(counting, () => library.headSeq());
    const together = await Promise.all(Array.from({ length: 20 }, () => cache.read()));
    expect(counts).toBe(RESOURCE_NAMES.length);
    expect(new Set(together).size).toBe(1);
    expect(await cache.read()).toBe(together[0]);
    expect(counts).toBe(RESOURCE_NAMES.length);

    const tagsBefore = together[0].find((head) => head.resourceType === resourceTypeOf('tag'))!;
    await library.write((tx) =>
      tx.put('tag', { uuid: '00000000-0000-4000-8000-000000000001', name: 'new', color: '' }),
    );
    const after = await cache.read();
    expect(counts).toBe(2 * RESOURCE_NAMES.length);
    const tagsAfter = after.find((head) => head.resourceType === resourceTypeOf('tag'))!;
    expect(tagsAfter.rowCount).toBe(tagsBefore.rowCount + 1);
    expect(tagsAfter.seq).toBe(await library.headSeq());
  } finally {
    await library.close();
  }
});
