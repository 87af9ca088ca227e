/**
 * A file written again within its file system's timestamp tick of being read keeps its size and
 * mtime: the indexer reads such a file again once the tick has passed (hash-pool.ts), so the
 * content stored is the file's, not what it held a moment before. Real files, the real indexer
 * and library; the write is made from inside the first read, its mtime set back as the file
 * system would have left it.
 */
import { contentUuidOf, Library } from '@tidemark/engine';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as contentHash from '../src/indexer/content-hash';
import { indexLocation } from '../src/indexer/index-location';
import * as volume from '../src/indexer/volume';
import { entriesOf } from './index-helpers';
import { removeTempDirs, tempDir } from './harness';

afterAll(removeTempDirs);
afterEach(() => jest.restoreAllMocks());

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

test("a file written again just after it was read, in the same mtime tick, is stored with its new content (the tick is the file system's)", async () => {
  const library = await Library.create(Library.fileIn(tempDir()));
  try {
    const root = tempDir();
    const file = path.join(root, 'notes.txt');
    fs.writeFileSync(file, 'first\n');
    const mtime = new Date();
    fs.utimesSync(file, mtime, mtime);
    // The tick the indexer asks for its file system, made long enough for the read to fall in it.
    const tick = jest.spyOn(volume, 'timestampTickMsOf').mockReturnValue(3_000);
    const real = contentHash.hashContent;
    let reads = 0;
    jest.spyOn(contentHash, 'hashContent').mockImplementation(async (read) => {
      const digest = await real(read);
      if (++reads === 1) {
        fs.writeFileSync(file, 'other\n');
        fs.utimesSync(file, mtime, mtime);
      }
      return digest;
    });
    const summary = await indexLocation(library, root, { hashThreads: 0 });
    expect(tick).toHaveBeenCalledWith(summary.filesystem);
    expect(reads).toBe(2);
    const entries = await entriesOf(library, summary.locationUuid);
    expect(entries.get('notes.txt')?.contentUuid).toBe(contentUuidOf(sha('other\n')));
    // Read after the tick, it is final: the next run finds it unchanged.
    jest.restoreAllMocks();
    expect(await indexLocation(library, root, { hashThreads: 0 })).toMatchObject({ unchanged: 1, hashed: 0 });
  } finally {
    await library.close();
  }
});
