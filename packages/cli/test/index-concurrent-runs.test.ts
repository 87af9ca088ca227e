/**
 * Two runs over one location at once (a node's watcher and `tidemark index`, here two connections
 * to one library file): a path holds one entry whoever stores it first. The second run is made
 * to commit at an exact moment of the first: while the first hashes a file it has already
 * resolved (the real hash, awaited around the other run).
 */
import { Library, readEntriesOfLocation } from '@tidemark/engine';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { indexLocation } from '../src/indexer/index-location';
import { removeTempDirs, tempDir } from './harness';
import { collect, expectStoreIsDisk, writeUnder } from './index-helpers';

type Hash = (file: string) => Promise<unknown>;
/** Runs once around the next file hashed on the main thread, then is cleared. */
const around: { hash?: (file: string, real: Hash) => Promise<unknown> } = {};

jest.mock('../src/indexer/content-hash', () => {
  const actual = jest.requireActual('../src/indexer/content-hash');
  return {
    ...actual,
    hashContent: (file: string) => {
      const hook = around.hash;
      around.hash = undefined;
      return hook ? hook(file, actual.hashContent) : actual.hashContent(file);
    },
  };
});

afterAll(removeTempDirs);

test('a new file where a moved one was, stored by another run between this run’s look-up and its commit, is one entry', async () => {
  const file = Library.fileIn(tempDir());
  const [a, b] = [await Library.create(file), await Library.open(file)];
  const root = tempDir();
  try {
    writeUnder(root, 'app.log', 'one\n');
    const { locationUuid } = await indexLocation(a, root, { hashThreads: 0 });
    // Log rotation: app.log moves to app.log.1 (keeping the entry, and so the uuid app.log
    // derives), and a new app.log starts.
    fs.renameSync(path.join(root, 'app.log'), path.join(root, 'app.log.1'));
    expect(await indexLocation(a, root, { hashThreads: 0 })).toMatchObject({ moved: 1 });
    writeUnder(root, 'app.log', 'two\n');
    // Run A has looked app.log up (its derived uuid is taken) and hashes it; run B indexes the
    // location meanwhile, and commits first.
    around.hash = async (hashed, real) => {
      const digest = await real(hashed);
      await indexLocation(b, root, { hashThreads: 0 });
      return digest;
    };
    await indexLocation(a, root, { hashThreads: 0 });
    expect(around.hash).toBeUndefined();
    const entries = await collect(readEntriesOfLocation(a, locationUuid));
    expect(entries.map((entry) => entry.relativePath).sort()).toEqual(['app.log', 'app.log.1']);
  } finally {
    await b.close();
    await a.close();
  }
});

test('a changed file whose directory another run deletes before this run commits is not put back', async () => {
  const file = Library.fileIn(tempDir());
  const [a, b] = [await Library.create(file), await Library.open(file)];
  const root = tempDir();
  try {
    writeUnder(root, 'd/p.txt', 'one\n');
    writeUnder(root, 'e.txt', 'e\n');
    const { locationUuid } = await indexLocation(a, root, { hashThreads: 0 });
    writeUnder(root, 'd/p.txt', 'changed\n');
    // Run A found d/p.txt changed and hashes it; meanwhile `rm -r d`, and run B deletes d and
    // d/p.txt first.
    around.hash = async (hashed, real) => {
      const digest = await real(hashed);
      fs.rmSync(path.join(root, 'd'), { recursive: true });
      await indexLocation(b, root, { hashThreads: 0 });
      return digest;
    };
    expect(await indexLocation(a, root, { hashThreads: 0 })).toMatchObject({ updated: 0 });
    expect(around.hash).toBeUndefined();
    await expectStoreIsDisk(a, locationUuid, root);
  } finally {
    await b.close();
    await a.close();
  }
});
