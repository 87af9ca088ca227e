/**
 * Two connections writing one library file (a node applying a sync while `tidemark index` runs,
 * in two processes): SQLite starts its WAL afresh only when a writer begins after a checkpoint
 * that copied every frame back, which the other writer's commits kept from happening, so the WAL
 * grew with everything written. Past its limit, a commit is followed by a truncating checkpoint.
 *
 * Whether the other writer's commit lands while SQLite's own checkpoint runs is a matter of
 * timing: on a loaded machine it sometimes never did, the WAL restarted by itself, and the control
 * below saw 8 MB instead of 44-50 MB (a red CI). So both connections here run with SQLite's own
 * checkpoints turned off, which keeps them from ever completing in every run, as the other writer
 * did in the measured index of 204,000 files. The truncating checkpoint still has to get past the
 * other writer's transactions.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { Library } from '../src/library';
import { createLibrary, removeTempDirs, tempDir } from './fixtures';

afterAll(removeTempDirs);

const LIMIT = 2 * 1024 * 1024;
const walBytes = (file: string) => {
  try {
    return fs.statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
};

async function largestWal(walTruncateBytes: number): Promise<number> {
  const dir = tempDir();
  await (await createLibrary({ dir })).close();
  const file = Library.fileIn(dir);
  const [bulk, other] = [
    await Library.open(file, { walTruncateBytes }),
    await Library.open(file, { walTruncateBytes }),
  ];
  // SQLite's own checkpoints off on both connections (see the top of this file).
  for (const library of [bulk, other]) {
    await library.db.writeTransaction((sql) => sql.query('PRAGMA wal_autocheckpoint = 0'));
    const [{ wal_autocheckpoint: pages }] = await library.db.writeTransaction((sql) =>
      sql.query<{ wal_autocheckpoint: number }>('PRAGMA wal_autocheckpoint'),
    );
    expect(pages).toBe(0);
  }
  let stop = false;
  let otherWrites = 0;
  // The other process: a small write whenever it can get the lock.
  const writing = (async () => {
    while (!stop) {
      const uuid = randomUUID();
      await other.write((tx) => tx.put('tag', { uuid, name: `small ${uuid}`, color: '' }));
      otherWrites++;
    }
  })();
  let largest = 0;
  // Restarted by SQLite itself, the WAL file is cut back to the limit too.
  const [{ journal_size_limit: sizeLimit }] = await bulk.db.writeTransaction((sql) =>
    sql.query<{ journal_size_limit: number }>('PRAGMA journal_size_limit'),
  );
  expect(sizeLimit).toBe(walTruncateBytes);
  try {
    for (let round = 0; round < 40; round++) {
      await bulk.write(async (tx) => {
        for (let i = 0; i < 2_000; i++) {
          const uuid = randomUUID();
          await tx.put('tag', { uuid, name: `bulk ${uuid}`, color: '' });
        }
      });
      largest = Math.max(largest, walBytes(file));
    }
  } finally {
    stop = true;
    await writing;
    await bulk.close();
    await other.close();
  }
  expect(otherWrites).toBeGreaterThan(0);
  return largest;
}

// About 80 MB written in all: with no limit the WAL grows with it, with a 2 MiB limit it stays under 4.
test('with another connection writing all along, the WAL stays near its limit instead of growing with what is written', async () => {
  expect(await largestWal(LIMIT)).toBeLessThan(4 * LIMIT);
}, 120_000);

test('control: with no limit, the WAL grows far past it (what the test above would see without the truncation)', async () => {
  expect(await largestWal(Number.MAX_SAFE_INTEGER)).toBeGreaterThan(16 * LIMIT);
}, 120_000);
