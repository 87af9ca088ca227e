import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeTempDirs, tempDir } from './fixtures';
import { Library } from '../src/library';

afterAll(removeTempDirs);

test('a new library directory is 0700, and the database and its WAL and shared-memory files 0600', async () => {
  const dir = path.join(tempDir(), 'library');
  const library = await Library.create(Library.fileIn(dir));
  try {
    await library.write((tx) =>
      tx.put('tag', { uuid: '00000000-0000-4000-8000-000000000001', name: 't', color: '' }),
    );
    const modes = Object.fromEntries(
      ['', 'library.db', 'library.db-wal', 'library.db-shm'].map((name) => [
        name || 'dir',
        (fs.statSync(path.join(dir, name)).mode & 0o777).toString(8),
      ]),
    );
    expect(modes).toEqual({
      dir: '700',
      'library.db': '600',
      'library.db-wal': '600',
      'library.db-shm': '600',
    });
  } finally {
    await library.close();
  }
});
