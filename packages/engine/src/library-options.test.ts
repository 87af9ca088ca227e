import { createLibrary, removeTempDirs, tempDir } from '../test/fixtures';
import { isTidemarkError } from './errors';
import { Library } from './library';

afterAll(removeTempDirs);

test('a writer cache size that is not a whole number of KiB >= 64 is refused before anything opens', async () => {
  const dir = tempDir();
  await (await createLibrary({ dir })).close();
  const file = Library.fileIn(dir);
  for (const writerCacheKib of [0, 63, 1.5, Number.NaN]) {
    const error = await Library.open(file, { writerCacheKib }).catch((e: unknown) => e);
    expect(isTidemarkError(error) && error.code).toBe('INVALID_ARGUMENT');
  }
  const fresh = Library.fileIn(tempDir());
  const error = await Library.create(fresh, { writerCacheKib: -1 }).catch((e: unknown) => e);
  expect(isTidemarkError(error) && error.code).toBe('INVALID_ARGUMENT');
  // The library still opens with a valid size, and with the default.
  for (const options of [{ writerCacheKib: 4096 }, {}]) {
    const library = await Library.open(file, options);
    const [{ cache_size: cacheSize }] = await library.db.writeTransaction((sql) =>
      sql.query<{ cache_size: number }>('PRAGMA cache_size'),
    );
    expect(cacheSize).toBe('writerCacheKib' in options ? -4096 : -16 * 1024);
    await library.close();
  }
});

test('a fallback poll interval that is not a whole number of milliseconds from 1 to 2^31-1 is refused before anything opens', async () => {
  const dir = tempDir();
  await (await createLibrary({ dir })).close();
  const file = Library.fileIn(dir);
  for (const fallbackPollMs of [0, -5, 2.5, Number.NaN, 2 ** 31]) {
    const error = await Library.open(file, { fallbackPollMs }).catch((e: unknown) => e);
    expect(isTidemarkError(error) && error.code).toBe('INVALID_ARGUMENT');
  }
  const fresh = Library.fileIn(tempDir());
  const error = await Library.create(fresh, { fallbackPollMs: 0 }).catch((e: unknown) => e);
  expect(isTidemarkError(error) && error.code).toBe('INVALID_ARGUMENT');
  const library = await Library.open(file, { fallbackPollMs: 3_600_000 });
  expect(library.fallbackPollMs).toBe(3_600_000);
  await library.close();
});
