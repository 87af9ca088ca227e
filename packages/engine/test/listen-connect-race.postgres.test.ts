/**
 * LISTEN on a hub (PostgreSQL only): a commit of another process made while the listening
 * connection is being opened is announced to nobody. The look at the head after LISTEN must wake
 * its type's followers even when an announcement of a later commit of another type arrived first.
 */
import { StateBatch } from '@tidemark/proto';
import { Subscription } from 'rxjs';
import { Library } from '../src/library';
import { backfillResource$ } from '../src/serve';
import { PostgresDatabase } from '../src/store/postgres-database';
import { freshTestDatabaseUrl } from '../src/testing';
import { createLibrary, removeTempDirs } from './fixtures';

afterAll(removeTempDirs);

const uuid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a commit made before LISTEN is not hidden by an announcement of a later commit of another type', async () => {
  const writer = await createLibrary({ databaseUrl: freshTestDatabaseUrl() });
  const follower = await Library.open(writer.file, { fallbackPollMs: 300 });
  const db = follower.db as PostgresDatabase;
  const listen = db.listen.bind(db);
  jest.spyOn(db, 'listen').mockImplementation(async (onAnnouncement) => {
    // Arranges the race only (with the fix the outcome does not depend on it): the watch's first
    // look at the head is done before the tag commits, unannounced, before LISTEN takes effect.
    await sleep(200);
    await writer.write((tx) => tx.put('tag', { uuid: uuid(1), name: 'before LISTEN', color: '' }));
    let announced!: () => void;
    const delivered = new Promise<void>((resolve) => (announced = resolve));
    const client = await listen((announcement) => {
      onAnnouncement(announcement);
      announced();
    });
    await writer.write((tx) =>
      tx.put('collection', { uuid: uuid(2), name: 'after LISTEN', description: '' }),
    );
    // The collection's announcement raises what the watch knows before its look after LISTEN.
    await delivered;
    return client;
  });
  const names: string[] = [];
  let stream: Subscription | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      stream = backfillResource$(follower, 'tag', { epoch: follower.identity.epoch, seq: 0 }, 100, {
        follow: true,
      }).subscribe({
        next: (batch: StateBatch) => {
          for (const record of batch.records)
            if (record.kind?.$case === 'tag') names.push(record.kind.value.name);
          if (batch.caughtUp) resolve();
        },
        error: reject,
      });
    });
    // Many polls later (each reads a head that was announced), the tag must have come.
    const end = Date.now() + 30_000;
    while (names.length === 0 && Date.now() < end) await sleep(20);
    expect(names).toEqual(['before LISTEN']);
  } finally {
    stream?.unsubscribe();
    jest.restoreAllMocks();
    await follower.close();
    await writer.close();
  }
});
