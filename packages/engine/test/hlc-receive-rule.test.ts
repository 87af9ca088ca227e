/**
 * The HLC receive rule at apply: a device that received a version stamps its later local writes
 * after it, even when its own wall clock is behind the sender's and even after a restart, so an
 * edit made after seeing a row always wins over that row everywhere.
 */
import { createLibrary, removeTempDirs, tempDir, TestClock } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { pull } from './sync-helpers';
import { Library } from '../src/library';

const TAG = fixedUuid(5, 1);
/** A's wall clock runs this far ahead of B's: well inside the drift guard's 5 minutes. */
const AHEAD_MS = 60_000;

let a: Library;
let b: Library;
let bClock: TestClock;
let bFile: string;

beforeEach(async () => {
  const aClock = new TestClock(Date.UTC(2025, 9, 20, 14, 0, 0) + AHEAD_MS);
  bClock = new TestClock(Date.UTC(2025, 9, 20, 14, 0, 0));
  a = await createLibrary({ clock: { now: aClock.now } });
  bFile = Library.fileIn(tempDir());
  b = await Library.create(bFile, {
    libraryId: a.identity.libraryId,
    clock: { now: bClock.now },
  });
});

afterEach(async () => {
  await b.close();
  await a.close();
});

afterAll(removeTempDirs);

async function tagOf(library: Library): Promise<{ name: string; hlc: string; origin: string }> {
  const [row] = await library.db.read.query<{ name: string; hlc: string; origin: string }>(
    'SELECT name, hlc, origin FROM tags WHERE uuid = ?',
    [TAG],
  );
  return row;
}

/** A writes the tag with its fast clock, B receives it and then edits it with its slow clock. */
async function receiveThenEdit(restartBetween: boolean): Promise<void> {
  await a.write((tx) => tx.put('tag', { uuid: TAG, name: 'from A', color: '' }));
  await pull(b, a);
  const received = await tagOf(b);
  expect(received.origin).toBe(a.identity.deviceId);
  if (restartBetween) {
    await b.close();
    b = await Library.open(bFile, { clock: { now: bClock.now } });
  }
  bClock.advance(1_000); // later on B's wall clock, still a minute behind A's
  await b.write((tx) => tx.put('tag', { uuid: TAG, name: 'edited on B', color: '' }));

  const edited = await tagOf(b);
  expect(edited.hlc > received.hlc ? 'after' : `${edited.hlc} is not after ${received.hlc}`).toBe('after');
  // So the edit wins at A too, instead of A keeping its own older write.
  await pull(a, b);
  expect(await tagOf(a)).toEqual(edited);
}

test('a local edit after receiving a newer stamp sorts after it', async () => {
  await receiveThenEdit(false);
});

test('a local edit after receiving a newer stamp sorts after it across a restart', async () => {
  await receiveThenEdit(true);
});
