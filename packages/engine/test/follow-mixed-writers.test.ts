/**
 * A follow stream of one type must be woken by another process's commit of that type even when
 * this process commits another type right after it, before the commit watch looked: this
 * process's commit tells the watch its head, and that head is above the other commit's.
 *
 * The other process is a second `Library` on the same file: its commits reach the serving
 * library only through the commit watch, as another process's do. Notifications are off and the
 * poll is slow, so the local commit lands before the watch's next look whatever the machine's
 * speed; the follower then has a generous deadline to see the tag.
 */
import { StateBatch } from '@tidemark/proto';
import { Subscription } from 'rxjs';
import { Library } from '../src/library';
import { backfillResource$ } from '../src/serve';
import { createLibrary, removeTempDirs } from './fixtures';
import { fixedUuid, until } from './scenario-helpers';

const POLL_MS = 1_000;
/** Generous: the machine is shared and slow at times. */
const DEADLINE_MS = 20_000;

let server: Library;
let other: Library;
let stream: Subscription | undefined;

beforeEach(async () => {
  server = await createLibrary({ commitNotifications: false, fallbackPollMs: POLL_MS });
  other = await Library.open(server.file);
});

afterEach(async () => {
  stream?.unsubscribe();
  await other.close();
  await server.close();
});

afterAll(removeTempDirs);

test('a commit of another process is not hidden by a later commit of this process that wrote another type', async () => {
  const base = await server.headSeq();
  const batches: StateBatch[] = [];
  await new Promise<void>((resolve, reject) => {
    stream = backfillResource$(server, 'tag', { epoch: server.identity.epoch, seq: base }, 1_000, {
      follow: true,
    }).subscribe({
      next: (batch) => {
        batches.push(batch);
        if (batch.caughtUp) resolve();
      },
      error: reject,
    });
  });
  const names = () =>
    batches.flatMap((batch) =>
      batch.records.map((record) => (record.kind?.$case === 'tag' ? record.kind.value.name : '?')),
    );

  await other.write((tx) =>
    tx.put('tag', { uuid: fixedUuid(5, 1), name: 'from another process', color: '' }),
  );
  await server.write((tx) =>
    tx.put('collection', { uuid: fixedUuid(6, 1), name: 'from this process', description: '' }),
  );
  expect(await server.headSeq()).toBe(base + 2);

  await until(() => names().length > 0, DEADLINE_MS);
  expect(names()).toEqual(['from another process']);
});
