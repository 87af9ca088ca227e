/**
 * A relay holds back, in follow streams, the rows it took from other devices in the last
 * moments (RelayHoldBack, docs/architecture.md "Relay hold-back"): the requester usually takes
 * them from their origin meanwhile and asks again with the claim it raised, so they cross once.
 * The page's bound stops below the first held-back row, so the stream never passes one: held
 * back, never skipped. Breaks tried: the page leaving held-back rows out but its bound going on
 * past them (the first test loses the row); no hold-back (the second test counts the copies).
 */
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { SyncEvent, syncFromPeer$, BackfillGate, LibrarySyncService } from '../src';
import { Library } from '../src/library';
import { RelayHoldBack } from '../src/relay-hold-back';
import { backfillResource$ } from '../src/serve';
import { sharedPageReadsOf } from '../src/shared-pages';
import { InMemoryTransport } from '../src/testing';
import { createMembers, removeTempDirs } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { countRows, pull } from './sync-helpers';

afterAll(removeTempDirs);

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}

const transportTo = (server: Library, relayHoldMs: number) =>
  new InMemoryTransport(new LibrarySyncService(server, { relayHoldMs }));

async function putTags(library: Library, prefix: string, count: number): Promise<string[]> {
  const uuids: string[] = [];
  await library.write(async (tx) => {
    for (let i = 0; i < count; i++) {
      const uuid = crypto.randomUUID();
      uuids.push(uuid);
      await tx.put('tag', { uuid, name: `${prefix}-${i}`, color: '' });
    }
  });
  return uuids;
}

async function holds(library: Library, uuids: readonly string[]): Promise<boolean> {
  const [row] = await library.db.read.query<{ n: number }>(
    `SELECT count(*) AS n FROM tags WHERE uuid IN (${uuids.map(() => '?').join(', ')})`,
    [...uuids],
  );
  return row.n === uuids.length;
}

test('a held-back row is served once old enough, and the rows behind it are not lost past it', async () => {
  const [a, b, c] = await createMembers(3);
  const events: SyncEvent[] = [];
  // C follows only B; A never reaches C, so A's rows can only come through B.
  const following = syncFromPeer$(c, transportTo(b, 500), { follow: true }).subscribe((event) =>
    events.push(event),
  );
  try {
    expect(await until(() => events.some((e) => e.kind === 'backfilled'), 20_000)).toBe(true);
    const fromA = await putTags(a, 'a', 3);
    await pull(b, a); // B takes A's rows: fresh relayed rows, held back from C for 500 ms
    const ownOfB = await putTags(b, 'b', 3); // behind them in B's seq order
    // C gets everything, A's rows included, although B's own rows came after them.
    expect(await until(() => holds(c, [...fromA, ...ownOfB]), 20_000)).toBe(true);
  } finally {
    following.unsubscribe();
  }
  await Promise.all([a.close(), b.close(), c.close()]);
});

/** Three devices following each other; A writes; how many of A's rows reach B and C twice. */
async function copiesRelayed(relayHoldMs: number): Promise<{ extra: number; needed: number }> {
  const devices = await createMembers(3);
  const [a, b, c] = devices;
  const received = new Map<string, number>();
  let backfilled = 0;
  const subscriptions = devices.flatMap((client) => {
    const gate = new BackfillGate();
    return devices
      .filter((server) => server !== client)
      .map((server) =>
        syncFromPeer$(client, transportTo(server, relayHoldMs), {
          follow: true,
          backfillGate: gate,
          types: ['tag'],
        }).subscribe((event) => {
          if (event.kind === 'backfilled') backfilled += 1;
          if (event.kind !== 'batch') return;
          const key = `${client.identity.deviceId} ${server.identity.deviceId}`;
          received.set(key, (received.get(key) ?? 0) + event.received);
        }),
      );
  });
  const written: string[] = [];
  try {
    // Only follow streams are held back (a backfill pull must reach caught_up): write once every
    // session follows.
    expect(await until(() => backfilled === 6, 30_000)).toBe(true);
    for (let round = 0; round < 10; round++) {
      written.push(...(await putTags(a, `a${round}`, 20)));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const device of [b, c]) expect(await until(() => holds(device, written), 30_000)).toBe(true);
    // Some time for copies still on their way, so that none is missed in the count.
    await until(() => false, 2 * relayHoldMs + 500);
  } finally {
    for (const subscription of subscriptions) subscription.unsubscribe();
  }
  const total = [...received.values()].reduce((sum, n) => sum + n, 0);
  for (const device of devices) expect(await countRows(device, 'tags')).toBe(written.length);
  await Promise.all(devices.map((device) => device.close()));
  return { extra: total - 2 * written.length, needed: 2 * written.length };
}

test('live rows a relay took from their origin are not passed on before the requester asks again', async () => {
  const without = await copiesRelayed(0);
  const withHold = await copiesRelayed(3_000);
  console.log(
    `rows received beyond those needed: ${without.extra} without hold-back, ${withHold.extra} with (of ${without.needed})`,
  );
  expect(without.extra).toBeGreaterThan(0);
  // Not asserted to be 0: on a loaded machine a re-request can take longer than the hold.
  expect(withHold.extra).toBeLessThan(without.extra / 4);
}, 120_000);

test('a stream that holds rows back never shares the page of one that does not, nor the other way round', async () => {
  const [a, b] = await createMembers(2);
  // B's commits from here on are tracked, so A's rows pulled below are fresh for a minute.
  await RelayHoldBack.start(b, 60_000);
  await putTags(b, 'b', 2); // B's own rows: never held back
  await putTags(a, 'a', 3);
  await pull(b, a);
  // The same claims for both streams (of a device B never heard of: they leave nothing out), so
  // only the hold-back tells their pages apart.
  const held = [{ origin: fixedUuid(9, 9), epoch: fixedUuid(8, 1), seq: 5 }];
  const firstBatch = (relayHoldMs: number, batchSize: number) =>
    firstValueFrom(
      backfillResource$(b, 'tag', { epoch: b.identity.epoch, seq: 0 }, batchSize, { held, relayHoldMs }),
    ).then((batch) => [batch.records.length, batch.caughtUp]);
  // Pages are kept a moment for streams at the same cursor. Had the holding stream taken the
  // plain one's page, it would pass A's rows on at once; had the plain stream taken the holding
  // one's, it would be caught up without them (a loss). A batch size of its own for each order.
  expect(await firstBatch(0, 100)).toEqual([5, true]);
  expect(await firstBatch(60_000, 100)).toEqual([2, false]);
  expect(await firstBatch(60_000, 99)).toEqual([2, false]);
  expect(await firstBatch(0, 99)).toEqual([5, true]);
  // Nor do two holding streams that differ in something else share one.
  expect(await firstBatch(60_000, 1)).toEqual([1, false]);
  // A requester that sends no claims (a v1 client) is never held back: it would not ask again.
  const unclaimed = await firstValueFrom(
    backfillResource$(b, 'tag', { epoch: b.identity.epoch, seq: 0 }, 98, { relayHoldMs: 60_000 }),
  );
  expect([unclaimed.records.length, unclaimed.caughtUp]).toEqual([5, true]);
  await Promise.all([a.close(), b.close()]);
});

test('a stream waits out a hold-back asleep: it asks for no page until the held row may be served', async () => {
  const [a, b] = await createMembers(2);
  await RelayHoldBack.start(b, 4_000);
  await putTags(b, 'b', 2);
  await putTags(a, 'a', 3);
  await pull(b, a);
  const held = [{ origin: fixedUuid(9, 9), epoch: fixedUuid(8, 1), seq: 5 }];
  const before = sharedPageReadsOf(b).readCounts;
  const batches = await lastValueFrom(
    backfillResource$(b, 'tag', { epoch: b.identity.epoch, seq: 0 }, 100, { held, relayHoldMs: 4_000 }).pipe(
      toArray(),
    ),
  );
  expect(batches.map((batch) => [batch.records.length, batch.caughtUp])).toEqual([
    [2, false],
    [3, true],
  ]);
  const after = sharedPageReadsOf(b).readCounts;
  // The page before the held row, then the rest once it may be served (a page asked for again
  // meanwhile, read or shared, would be a busy wait).
  expect(after.reads + after.shared - (before.reads + before.shared)).toBe(2);
  await Promise.all([a.close(), b.close()]);
});

test('a cursor of another epoch is told of its reset at once, even when every row of the type is held back', async () => {
  const [a, b] = await createMembers(2);
  await RelayHoldBack.start(b, 60_000);
  await putTags(a, 'a', 3);
  await pull(b, a);
  const held = [{ origin: fixedUuid(9, 9), epoch: fixedUuid(8, 1), seq: 5 }];
  const stream = backfillResource$(b, 'tag', { epoch: fixedUuid(8, 7), seq: 3 }, 100, {
    held,
    relayHoldMs: 60_000,
  });
  const first = await Promise.race([
    firstValueFrom(stream),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no batch within 10 s')), 10_000)),
  ]);
  // Nothing may be sent yet, but the requester learns now that its position is gone.
  expect([first.records.length, first.reset, first.caughtUp, first.checkpoint!.seq]).toEqual([
    0,
    true,
    false,
    0,
  ]);
  await Promise.all([a.close(), b.close()]);
});
