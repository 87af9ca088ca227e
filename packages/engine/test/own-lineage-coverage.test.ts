/**
 * Own-lineage coverage before caught_up (docs/architecture.md, "Own-lineage coverage before
 * caught_up"): a page a server sends of its own rows may claim its lineage up to the page's end
 * only when no version of that lineage below the end has moved beyond it. Each test makes a
 * wrong claim lose rows: versions replaced or deleted inside the claimed ranges, own rows
 * adopted back after a restore in place, and a history that changed under the same epoch.
 */
import * as fs from 'node:fs';
import { Library } from '../src/library';
import { historyMarkFile } from '../src/store/history-mark';
import { heldPrefixes } from '../src/testing';
import { createLibrary, createMembers, removeTempDirs, STORE_UNDER_TEST } from './fixtures';
import { fixedUuid, notDominated, peerDigests, putEntries, TickingClock } from './scenario-helpers';
import { syncUntilCut, transportTo } from './sync-helpers';
import { SyncEvent } from '../src';

const BATCH = 2;

afterAll(() => removeTempDirs());

/**
 * A writes entries with tags between them; B takes all of it; A writes more, then replaces and
 * deletes entries and tags whose seqs lie inside the ranges a puller reads after its first
 * claims (so the early versions B holds are exactly what a claim passing those gaps leaves out).
 */
async function makeWorld(): Promise<{ a: Library; b: Library }> {
  const clock = new TickingClock();
  const a = await createLibrary({ clock: { now: clock.now } });
  const b = await createLibrary({ libraryId: a.identity.libraryId, clock: { now: clock.now } });
  const device = a.identity.deviceId;
  await a.write(async (tx) => {
    await tx.put('location', {
      uuid: fixedUuid(2, 0),
      deviceUuid: device,
      volumeUuid: '',
      path: '/l',
      name: 'L',
    });
    await putEntries(tx, device, 0, 10, 100);
    for (let i = 0; i < 6; i++)
      await tx.put('tag', { uuid: fixedUuid(5, i), name: `tag ${i}`, color: '#f00' });
    await putEntries(tx, device, 10, 20, 100);
  });
  expect((await syncUntilCut(b, transportTo(a), { batchSize: BATCH })).error).toBeUndefined();
  await a.write((tx) => putEntries(tx, device, 20, 30, 100));
  await a.write(async (tx) => {
    await putEntries(tx, device, 12, 13, 900);
    await tx.delete('entry', fixedUuid(3, 15));
    await tx.put('tag', { uuid: fixedUuid(5, 3), name: 'renamed 3', color: '#0f0' });
    await tx.delete('tag', fixedUuid(5, 4));
    await putEntries(tx, device, 25, 26, 900);
    await tx.delete('entry', fixedUuid(3, 22));
    await putEntries(tx, device, 30, 32, 100);
  });
  await b.write(async (tx) => {
    for (let i = 0; i < 3; i++)
      await tx.put('collection', { uuid: fixedUuid(6, i), name: `col ${i}`, description: '' });
    await tx.put('tag', { uuid: fixedUuid(5, 1), name: 'renamed by b', color: '#00f' });
  });
  return { a, b };
}

const caughtUpOn = (events: readonly SyncEvent[], type: string) =>
  events.some((event) => event.kind === 'batch' && event.resourceType === type && event.caughtUp);

test('resume at every cut, with versions replaced and deleted inside the claimed ranges: a claim before caught_up never loses a row', async () => {
  const { a, b } = await makeWorld();
  const libraryId = a.identity.libraryId;
  const reference = await createLibrary({ libraryId });
  const transport = transportTo(a);
  expect(
    (await syncUntilCut(reference, transport, { batchSize: BATCH, originFilter: false })).error,
  ).toBeUndefined();
  const cuts = transport.deliveredBatches;
  expect((await syncUntilCut(reference, transportTo(b), { batchSize: BATCH })).error).toBeUndefined();
  const whole = await peerDigests(reference);
  let claimedEarly = 0;
  let skippedByRelay = 0;
  for (let k = 0; k <= cuts; k++) {
    const c = await createLibrary({ libraryId });
    const plain = await createLibrary({ libraryId });
    const first = await syncUntilCut(
      c,
      transportTo(a, { cutBefore: (_batch, delivered) => delivered === k }),
      {
        batchSize: BATCH,
      },
    );
    if (first.error) expect(first.error).toMatchObject({ code: 'UNAVAILABLE' });
    const onA = (await heldPrefixes(c, 'entry')).find((claim) => claim.origin === a.identity.deviceId);
    if (onA && !caughtUpOn(first.events, 'entry')) claimedEarly += 1;
    const relay = await syncUntilCut(c, transportTo(b), { batchSize: BATCH });
    expect(relay.error).toBeUndefined();
    for (const event of relay.events) if (event.kind === 'batch') skippedByRelay += event.heldSkipped;
    const cutPlain = await syncUntilCut(
      plain,
      transportTo(a, { cutBefore: (_batch, delivered) => delivered === k }),
      {
        batchSize: BATCH,
        originFilter: false,
      },
    );
    if (cutPlain.error) expect(cutPlain.error).toMatchObject({ code: 'UNAVAILABLE' });
    expect(
      (await syncUntilCut(plain, transportTo(b), { batchSize: BATCH, originFilter: false })).error,
    ).toBeUndefined();
    expect({ k, misses: await notDominated(b, c) }).toEqual({ k, misses: [] });
    expect({ k, digests: await peerDigests(c) }).toEqual({ k, digests: await peerDigests(plain) });
    // A is back: C resumes its cursor (and its claims) and ends with the whole library.
    expect((await syncUntilCut(c, transportTo(a), { batchSize: BATCH })).error).toBeUndefined();
    expect({ k, digests: await peerDigests(c) }).toEqual({ k, digests: whole });
    await c.close();
    await plain.close();
  }
  // The claims were made before caught_up, and the relay left rows out on their strength.
  expect(claimedEarly).toBeGreaterThan(0);
  expect(skippedByRelay).toBeGreaterThan(0);
  await a.close();
  await b.close();
  await reference.close();
}, 180_000);

async function addTags(library: Library, prefix: string, count: number): Promise<void> {
  await library.write(async (tx) => {
    for (let i = 0; i < count; i++)
      await tx.put('tag', { uuid: crypto.randomUUID(), name: `${prefix}-${i}`, color: '' });
  });
}

/**
 * A restore in place with its history mark (a whole-directory snapshot rolled back): the epoch
 * stays, and new writes take the seqs of the lost ones, which B holds.
 */
async function restoredInPlace(): Promise<{ a: Library; b: Library }> {
  const [first, b] = await createMembers(2);
  await addTags(first, 'before', 6);
  const file = first.db.file;
  await first.close();
  const copy = `${file}.backup`;
  fs.copyFileSync(file, copy);
  fs.copyFileSync(historyMarkFile(file), historyMarkFile(copy));
  let a = await Library.open(file);
  const epoch = a.identity.epoch;
  await addTags(a, 'lost', 6);
  expect((await syncUntilCut(b, transportTo(a), { batchSize: 3 })).error).toBeUndefined();
  await a.close();
  for (const suffix of ['-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
  fs.copyFileSync(copy, file);
  fs.copyFileSync(historyMarkFile(copy), historyMarkFile(file));
  a = await Library.open(file);
  expect(a.identity.epoch).toBe(epoch);
  await addTags(a, 'after-restore', 8);
  return { a, b };
}

/** Restores by file copy: SQLite only (a hub is restored by PostgreSQL's own tools). */
const sqliteTest = STORE_UNDER_TEST === 'sqlite' ? test : test.skip;

const namesLike = async (library: Library, prefix: string) =>
  (
    await library.db.read.query<{ n: number }>('SELECT count(*) AS n FROM tags WHERE name LIKE ?', [
      `${prefix}-%`,
    ])
  )[0].n;

sqliteTest(
  'own rows adopted back after a restore in place: no claim before caught_up, and a puller resumed at every cut gets them',
  async () => {
    const { a, b } = await restoredInPlace();
    // A takes back the rows the restore lost: they sit at new seqs, their origin seqs reused.
    expect(
      (await syncUntilCut(a, transportTo(b), { batchSize: 3, adoptOwnRows: true })).error,
    ).toBeUndefined();
    expect(await namesLike(a, 'lost')).toBe(6);
    const transport = transportTo(a);
    const probe = await createLibrary({ libraryId: a.identity.libraryId });
    expect(
      (await syncUntilCut(probe, transport, { batchSize: BATCH, types: ['tag'] })).error,
    ).toBeUndefined();
    const cuts = transport.deliveredBatches;
    for (let k = 0; k < cuts; k++) {
      const c = await createLibrary({ libraryId: a.identity.libraryId });
      const first = await syncUntilCut(
        c,
        transportTo(a, { cutBefore: (_batch, delivered) => delivered === k }),
        {
          batchSize: BATCH,
          types: ['tag'],
        },
      );
      expect(first.error).toMatchObject({ code: 'UNAVAILABLE' });
      expect({ k, claims: await heldPrefixes(c, 'tag') }).toEqual({ k, claims: [] });
      expect(
        (await syncUntilCut(c, transportTo(a), { batchSize: BATCH, types: ['tag'] })).error,
      ).toBeUndefined();
      const misses = (await notDominated(a, c)).filter((miss) => miss.startsWith('tag '));
      expect({ k, misses }).toEqual({ k, misses: [] });
      await c.close();
    }
    await probe.close();
    await a.close();
    await b.close();
  },
  120_000,
);

sqliteTest(
  'a history changed under the same epoch, once a peer showed it: no claim before caught_up, so a relay still sends the lost rows',
  async () => {
    const { a, b } = await restoredInPlace();
    // B's cursor lies in the lost history: A serves it from 0 and learns its history changed.
    const reset = await syncUntilCut(b, transportTo(a), { batchSize: 3, types: ['tag'] });
    expect(reset.error).toBeUndefined();
    expect(reset.events.some((event) => event.kind === 'batch' && event.reset)).toBe(true);
    expect(await namesLike(b, 'lost')).toBe(6);
    const transport = transportTo(a);
    const probe = await createLibrary({ libraryId: a.identity.libraryId });
    expect(
      (await syncUntilCut(probe, transport, { batchSize: BATCH, types: ['tag'] })).error,
    ).toBeUndefined();
    const cuts = transport.deliveredBatches;
    // Every cut before C's caught-up batch of tags from A. (A cut after it leaves C with A's
    // caught-up claim, which B then honours for the lost rows too: the hole of a restore under the
    // same epoch that anti-entropy reports, docs/architecture.md "Restored libraries".)
    for (let k = 0; k < cuts; k++) {
      const c = await createLibrary({ libraryId: a.identity.libraryId });
      const first = await syncUntilCut(
        c,
        transportTo(a, { cutBefore: (_batch, delivered) => delivered === k }),
        {
          batchSize: BATCH,
          types: ['tag'],
        },
      );
      expect(first.error).toMatchObject({ code: 'UNAVAILABLE' });
      expect(
        (await syncUntilCut(c, transportTo(b), { batchSize: BATCH, types: ['tag'] })).error,
      ).toBeUndefined();
      expect({ k, lost: await namesLike(c, 'lost') }).toEqual({ k, lost: 6 });
      await c.close();
    }
    await probe.close();
    await a.close();
    await b.close();
  },
  120_000,
);
