/**
 * LISTEN/NOTIFY on a hub (PostgreSQL only): a commit made through another Library (as another
 * node process would: its own pool, no in-process notice) wakes only the follow streams of the
 * types it wrote, and a listening connection that drops loses nothing: the poll finds the
 * commits it missed and the connection is opened again.
 */
import { StateBatch } from '@tidemark/proto';
import { Subscription } from 'rxjs';
import { TidemarkError } from '../src/errors';
import { Library } from '../src/library';
import { backfillResource$ } from '../src/serve';
import { SqlRunner } from '../src/store/library-database';
import { freshTestDatabaseUrl } from '../src/testing';
import { createLibrary, removeTempDirs } from './fixtures';

afterAll(removeTempDirs);

const DEADLINE_MS = 30_000;
const uuid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

/** The server sessions listening for this schema's commits (the watch's LISTEN connection). */
const LISTENING = `query LIKE 'LISTEN "tidemark_commits_' || current_schema() || '"%'`;

/** Ends the LISTEN connections from the server's side, as a dropped connection would; how many. */
async function endListeningConnections(): Promise<number> {
  const [{ killed }] = await writer.db.read.query<{ killed: number }>(
    `SELECT count(pg_terminate_backend(pid)) AS killed FROM pg_stat_activity WHERE ${LISTENING}`,
  );
  return Number(killed);
}

async function until(condition: () => boolean, deadlineMs = DEADLINE_MS): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

let writer: Library;
let follower: Library;
let stream: Subscription | undefined;
const watchErrors: TidemarkError[] = [];
/** Tag pages the follower's stream read (each ends with its tombstone read or an empty probe). */
let pagesRead = 0;
const names: string[] = [];

beforeEach(async () => {
  writer = await createLibrary({ databaseUrl: freshTestDatabaseUrl() });
  follower = await Library.open(writer.file, {
    fallbackPollMs: 300,
    onCommitWatchError: (error) => watchErrors.push(error),
  });
  const read = follower.db.read;
  const counting: SqlRunner = {
    dialect: read.dialect,
    query: async (text, params) => {
      const rows = await read.query(text, params);
      const emptyProbe = text.trimStart().startsWith('WITH firsts') && (rows[0] as { n: number }).n === 0;
      if (emptyProbe || /^SELECT uuid, hlc, origin, seq\b[^]*FROM tombstones/.test(text.trimStart())) {
        pagesRead += 1;
      }
      return rows as never;
    },
  };
  jest.spyOn(follower.db, 'read', 'get').mockReturnValue(counting);
  await new Promise<void>((resolve, reject) => {
    stream = backfillResource$(follower, 'tag', { epoch: follower.identity.epoch, seq: 0 }, 100, {
      follow: true,
    }).subscribe({
      next: (batch: StateBatch) => {
        for (const record of batch.records) {
          if (record.kind?.$case === 'tag') names.push(record.kind.value.name);
        }
        if (batch.caughtUp) resolve();
      },
      error: reject,
    });
  });
});

afterEach(async () => {
  stream?.unsubscribe();
  jest.restoreAllMocks();
  await follower.close();
  await writer.close();
  names.length = 0;
  watchErrors.length = 0;
  pagesRead = 0;
});

test('a commit of another Library wakes the follow streams of its type only', async () => {
  await writer.write((tx) => tx.put('tag', { uuid: uuid(1), name: 'first', color: '' }));
  expect(await until(() => names.length === 1)).toBe(true);
  const before = pagesRead;
  // Collections only: the tag stream must not read a page for it.
  for (let i = 0; i < 5; i++) {
    await writer.write((tx) => tx.put('collection', { uuid: uuid(100 + i), name: `c${i}`, description: '' }));
  }
  await writer.write((tx) => tx.put('tag', { uuid: uuid(2), name: 'second', color: '' }));
  expect(await until(() => names.length === 2)).toBe(true);
  // One page, the second tag's (the poll saw no head it had not been told of).
  expect(pagesRead - before).toBe(1);
  expect(names).toEqual(['first', 'second']);
  expect(watchErrors).toEqual([]);
});

test('a listening connection that drops loses no commit: the poll finds them, and LISTEN comes back', async () => {
  await writer.write((tx) => tx.put('tag', { uuid: uuid(1), name: 'before', color: '' }));
  expect(await until(() => names.length === 1)).toBe(true);
  expect(await endListeningConnections()).toBe(1);
  expect(await until(() => watchErrors.length === 1)).toBe(true);
  expect(watchErrors[0]).toMatchObject({ code: 'STORAGE' });
  expect(watchErrors[0].message).toMatch(/seen within 300 ms/);
  await writer.write((tx) => tx.put('tag', { uuid: uuid(2), name: 'while down', color: '' }));
  expect(await until(() => names.length === 2)).toBe(true);
  // Listening again (opened by the next poll): the next commit is announced to it.
  const listening = async () =>
    (
      await writer.db.read.query<{ n: number }>(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE ${LISTENING}`,
      )
    )[0].n;
  const end = Date.now() + DEADLINE_MS;
  while ((await listening()) !== 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  expect(await listening()).toBe(1);
  await writer.write((tx) => tx.put('tag', { uuid: uuid(3), name: 'after', color: '' }));
  expect(await until(() => names.length === 3)).toBe(true);
  expect(names).toEqual(['before', 'while down', 'after']);
});

test('while LISTEN is down, a commit of this process of another type does not hide another Library’s commit from the poll', async () => {
  await writer.write((tx) => tx.put('tag', { uuid: uuid(1), name: 'before', color: '' }));
  expect(await until(() => names.length === 1)).toBe(true);
  expect(await endListeningConnections()).toBe(1);
  expect(await until(() => watchErrors.length === 1)).toBe(true);
  // Back to back, well inside one poll interval (300 ms): another process's tag, then a
  // collection of the follower's own process, whose head is above the tag's.
  await writer.write((tx) => tx.put('tag', { uuid: uuid(2), name: 'while down', color: '' }));
  await follower.write((tx) => tx.put('collection', { uuid: uuid(200), name: 'own', description: '' }));
  // Many polls and a reconnect later, the tag stream must have been woken.
  expect(await until(() => names.length === 2)).toBe(true);
  expect(names).toEqual(['before', 'while down']);
});
