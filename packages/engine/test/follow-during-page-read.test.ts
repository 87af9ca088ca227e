/**
 * A commit reported while a follow stream reads a page, after the page's snapshot was taken,
 * is not lost: the stream reads again. The commit lands between the page's first query and its
 * return, so the page cannot hold it and its wake-up arrives while nobody waits.
 */
import { StateBatch } from '@tidemark/proto';
import { Subscription } from 'rxjs';
import { Library } from '../src/library';
import { backfillResource$ } from '../src/serve';
import { SqlRunner } from '../src/store/library-database';
import { createLibrary, removeTempDirs } from './fixtures';
import { fixedUuid } from './scenario-helpers';

let library: Library;
let stream: Subscription | undefined;

afterEach(async () => {
  stream?.unsubscribe();
  await library.close();
});
afterAll(removeTempDirs);

const putTag = (n: number) =>
  library.write((tx) => tx.put('tag', { uuid: fixedUuid(7, n), name: `tag ${n}`, color: '' }));

/** The reader of `library`, with `during` run once right after the next page probe's query. */
function commitDuringNextProbe(during: () => Promise<void>): { armed: boolean } {
  const reader = library.db.read;
  const state = { armed: false };
  const wrapped: SqlRunner = {
    dialect: reader.dialect,
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<Row[]> {
      const rows = await reader.query<Row>(sql, params);
      if (state.armed && sql.includes('WITH firsts')) {
        state.armed = false;
        await during();
      }
      return rows;
    },
  };
  Object.defineProperty(library.db, 'read', { get: () => wrapped, configurable: true });
  return state;
}

test('a commit reported while a page is read, after its snapshot, causes another read', async () => {
  library = await createLibrary({ fallbackPollMs: 3_600_000, commitNotifications: false });
  const probe = commitDuringNextProbe(() => putTag(2));
  const batches: StateBatch[] = [];
  const names = () =>
    batches.flatMap((batch) =>
      batch.records.map((record) => (record.kind?.$case === 'tag' ? record.kind.value.name : '?')),
    );
  await new Promise<void>((resolve, reject) => {
    stream = backfillResource$(library, 'tag', { epoch: library.identity.epoch, seq: 0 }, 100, {
      follow: true,
    }).subscribe({
      next: (batch) => {
        batches.push(batch);
        if (batch.caughtUp) resolve();
      },
      error: reject,
    });
  });
  probe.armed = true;
  await putTag(1); // wakes the stream; tag 2 commits while it reads the page of tag 1
  const end = Date.now() + 30_000;
  while (names().length < 2 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(probe.armed).toBe(false);
  expect(names()).toEqual(['tag 1', 'tag 2']);
});
