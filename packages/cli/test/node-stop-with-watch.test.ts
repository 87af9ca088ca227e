import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sqlite3 from 'sqlite3';
import { freePort, NodeProcess, removeTempDirs, runCliJson, tempDir, waitFor } from './harness';

afterAll(removeTempDirs);

const DIRECTORIES = 200;
const FILES_PER_DIRECTORY = 200;
/** The location's entries once it is indexed whole: every directory and file. */
const ALL = DIRECTORIES * (FILES_PER_DIRECTORY + 1);

/** Entries, and distinct paths among them, read straight from the file (read-only, another connection). */
function countEntries(dir: string): Promise<{ rows: number; paths: number }> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(path.join(dir, 'library.db'), sqlite3.OPEN_READONLY, (error) => {
      if (error) return reject(error);
      db.get(
        'SELECT count(*) AS rows, count(DISTINCT location_uuid || relative_path) AS paths FROM entries',
        (failure: Error | null, row: { rows: number; paths: number }) => {
          db.close();
          if (failure) reject(failure);
          else resolve(row);
        },
      );
    });
  });
}

test("SIGTERM during a watched location's whole rescan stops the node without finishing the rescan, exits 0, and a restart indexes the rest with no row lost or doubled", async () => {
  const [dir, base] = [tempDir(), tempDir()];
  const tree = path.join(base, 'big');
  fs.mkdirSync(tree);
  await runCliJson(['init', '--library', dir]);
  // The location is known (indexed empty); its files arrive while no node runs, so the node's
  // start-up rescan has all of them to index.
  await runCliJson(['index', '--library', dir, tree]);
  for (let d = 0; d < DIRECTORIES; d++) {
    const sub = path.join(tree, `d${d}`);
    fs.mkdirSync(sub);
    for (let f = 0; f < FILES_PER_DIRECTORY; f++) fs.writeFileSync(path.join(sub, `f${f}`), `${d}/${f}\n`);
  }

  const node = new NodeProcess(dir, await freePort(), [], ['--watch']);
  await node.start();
  // The rescan is under way: its first batches are committed.
  await waitFor(async () => (await countEntries(dir)).rows > 0, 60_000, 'the first indexed batch');
  const code = await node.stop();
  expect(code).toBe(0);
  // The rescan was cut short rather than run to its end before the node stopped (a location of
  // a million files took minutes, past any service manager's stop timeout).
  expect(node.output).not.toContain('"location indexed"');
  expect(node.output).toContain('"stopped"');
  const atStop = await countEntries(dir);
  expect(atStop.rows).toBeLessThan(ALL);
  expect(atStop.paths).toBe(atStop.rows);

  // What the stopped run committed is kept; the next start indexes the rest, each path once.
  const again = new NodeProcess(dir, await freePort(), [], ['--watch']);
  await again.start();
  try {
    await waitFor(async () => (await countEntries(dir)).rows >= ALL, 120_000, 'the whole location indexed');
    await waitFor(async () => again.output.includes('"location indexed"'), 60_000, 'the rescan to end');
    expect(await countEntries(dir)).toEqual({ rows: ALL, paths: ALL });
  } finally {
    expect(await again.stop()).toBe(0);
  }
}, 300_000);

test('SIGTERM right after "listening", while --watch is still subscribing a large tree, stops the node gracefully with exit 0', async () => {
  const [dir, base] = [tempDir(), tempDir()];
  const tree = path.join(base, 'many-directories');
  // Subscribing watches every directory: 20,000 of them take the watcher a while to start.
  for (let a = 0; a < 100; a++) {
    for (let b = 0; b < 200; b++) fs.mkdirSync(path.join(tree, `a${a}`, `b${b}`), { recursive: true });
  }
  await runCliJson(['init', '--library', dir]);
  await runCliJson(['index', '--library', dir, tree]);

  const node = new NodeProcess(dir, await freePort(), [], ['--watch']);
  await node.start();
  // "listening" is what scripts and service managers wait for: a stop from then on is graceful.
  const code = await node.stop();
  const output = node.output;
  expect(output.indexOf('"signal received"')).toBeGreaterThan(-1);
  // The case this test is about: the signal came before the watcher had started.
  const watching = output.indexOf('"watching location"');
  if (watching >= 0) expect(watching).toBeGreaterThan(output.indexOf('"signal received"'));
  expect(code).toBe(0);
  expect(output).toContain('"stopped"');
}, 300_000);
