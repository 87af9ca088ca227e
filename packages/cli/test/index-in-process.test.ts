import { Entry } from '@tidemark/proto';
import { Library, readRecord, readRecords } from '@tidemark/engine';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { indexLocation } from '../src/indexer/index-location';
import { WalkProblem } from '../src/indexer/walk';
import { removeTempDirs, tempDir } from './harness';

afterAll(removeTempDirs);
afterEach(() => jest.restoreAllMocks());

function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

async function withNewLibrary<T>(fn: (library: Library) => Promise<T>): Promise<T> {
  const library = await Library.create(Library.fileIn(tempDir()));
  try {
    return await fn(library);
  } finally {
    await library.close();
  }
}

async function entries(library: Library): Promise<Entry[]> {
  const all: Entry[] = [];
  for await (const entry of readRecords(library, 'entry')) all.push(entry);
  return all;
}

const relativePaths = async (library: Library) =>
  (await entries(library)).map((entry) => entry.relativePath).sort();

const entryAt = async (library: Library, relativePath: string) =>
  (await entries(library)).find((entry) => entry.relativePath === relativePath)!;

// Running as root, permission errors cannot be produced on disk (root reads chmod 000 files), and
// a file vanishing between the walk and its hash is a race. Both are injected at the fs call the
// indexer makes, with the error a real failure would raise (hashing on the main thread, where the
// injection reaches: hashing threads have their own fs).
test('a directory or file that cannot be read keeps its stored entries; the next good run catches up', async () => {
  const root = tempDir();
  fs.mkdirSync(path.join(root, 'private'));
  fs.writeFileSync(path.join(root, 'private', 'secret.txt'), 'secret\n');
  fs.writeFileSync(path.join(root, 'notes.txt'), 'v1\n');
  await withNewLibrary(async (library) => {
    const first = await indexLocation(library, root);
    expect(first).toMatchObject({ added: 3, unreadable: 0 });

    fs.writeFileSync(path.join(root, 'notes.txt'), 'version two\n');
    fs.utimesSync(path.join(root, 'notes.txt'), new Date(2_000_000_000_000), new Date(2_000_000_000_000));
    fs.writeFileSync(path.join(root, 'private', 'added-while-unreadable.txt'), 'x\n');
    const realReaddir = fs.promises.readdir;
    jest
      .spyOn(fs.promises, 'readdir')
      .mockImplementation(((dir: fs.PathLike, options: { encoding: 'latin1' }) =>
        String(dir).endsWith('/private')
          ? Promise.reject(errno('EACCES', 'permission denied'))
          : realReaddir(dir, options)) as typeof fs.promises.readdir);
    const realOpen = fs.promises.open;
    jest
      .spyOn(fs.promises, 'open')
      .mockImplementation((file, flags, mode) =>
        String(file).endsWith('/notes.txt')
          ? Promise.reject(errno('ENOENT', 'no such file or directory'))
          : realOpen(file, flags, mode),
      );
    const problems: WalkProblem[] = [];
    const second = await indexLocation(library, root, {
      hashThreads: 0,
      onProblem: (p) => problems.push(p),
    });
    expect(second).toMatchObject({ added: 0, deleted: 0, unreadable: 2 });
    expect(problems.map((p) => [p.relativePath, p.reason])).toEqual(
      expect.arrayContaining([
        ['private', 'EACCES: permission denied'],
        ['notes.txt', 'ENOENT: no such file or directory'],
      ]),
    );
    expect(await relativePaths(library)).toEqual(['notes.txt', 'private', 'private/secret.txt']);
    const notes = await entryAt(library, 'notes.txt');
    expect(notes.sizeBytes).toBe(3);

    jest.restoreAllMocks();
    const third = await indexLocation(library, root);
    expect(third).toMatchObject({ added: 1, unreadable: 0, deleted: 0 });
    expect(third.updated).toBeGreaterThanOrEqual(1);
    const after = await entryAt(library, 'notes.txt');
    expect(after.sizeBytes).toBe('version two\n'.length);
  });
});

test('small write batches: one transaction per batch, the same result, and identical content shares one identity', async () => {
  const root = tempDir();
  for (let d = 0; d < 5; d++) {
    fs.mkdirSync(path.join(root, `dir-${d}`));
    for (let f = 0; f < 20; f++)
      fs.writeFileSync(path.join(root, `dir-${d}`, `f-${f}.txt`), `content ${f}\n`);
  }
  // Above the full-hash limit: sampled, and two copies still share one identity.
  const big = Buffer.alloc(3 * 1024 * 1024, 7);
  fs.writeFileSync(path.join(root, 'big-a.bin'), big);
  fs.writeFileSync(path.join(root, 'big-b.bin'), big);
  await withNewLibrary(async (library) => {
    const summary = await indexLocation(library, root, { batchSize: 10 });
    expect(summary).toMatchObject({ added: 107, transactions: 11, contentAdded: 21 });
    const n = new Set((await entries(library)).map((e) => e.contentUuid).filter((uuid) => uuid !== '')).size;
    expect(n).toBe(21);
    const stored = await readRecord(
      library,
      'content_identity',
      (await entryAt(library, 'big-a.bin')).contentUuid,
    );
    const bigContent = stored && { size_bytes: stored.sizeBytes, mime_type: stored.mimeType };
    expect(bigContent).toEqual({ size_bytes: big.length, mime_type: 'application/octet-stream' });

    // Appending one byte past the sampled regions still changes the identity (size is hashed).
    fs.appendFileSync(path.join(root, 'big-b.bin'), Buffer.from([7]));
    const again = await indexLocation(library, root, { batchSize: 10 });
    expect(again).toMatchObject({ added: 0, updated: 1, contentAdded: 1 });
  });
});
