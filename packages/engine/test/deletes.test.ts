/**
 * Deletes travel as tombstones in the same ordered stream as rows, and last-writer-wins by
 * (hlc, origin) decides between a tombstone and a row.
 */
import { EntryKind, StateBatch } from '@tidemark/proto';
import { createMembers, removeTempDirs, TestClock } from './fixtures';
import { fixedUuid, hasRow, hasTombstone, HookedTransport, lostRows } from './scenario-helpers';
import { digestsOf, pull, syncUntilCut, transportTo } from './sync-helpers';
import { Library } from '../src/library';
import { unwrapRecord } from '../src/records';
import { ResourceName, resourceNameOf } from '../src/resource-types';
import { WriteTransaction } from '../src/write-path';

const SECOND = 1_000;
let members: Library[] = [];
let clock: TestClock;

beforeEach(async () => {
  clock = new TestClock();
  members = await createMembers(3, { clock: { now: clock.now } });
});

afterEach(async () => {
  for (const member of members) await member.close();
});

afterAll(removeTempDirs);

/** Writes through the one write path, one second after the previous write. */
async function write(library: Library, fn: (tx: WriteTransaction) => Promise<void>): Promise<void> {
  clock.advance(SECOND);
  await library.write(fn);
}

function putEntry(tx: WriteTransaction, uuid: string, path: string): Promise<void> {
  return tx.put('entry', {
    uuid,
    deviceUuid: tx.deviceId,
    locationUuid: fixedUuid(2, 1),
    parentUuid: '',
    relativePath: path,
    kind: EntryKind.ENTRY_KIND_FILE,
    sizeBytes: 1,
    modifiedAtMs: 1,
    contentUuid: '',
  });
}

async function tombstoneOf(library: Library, name: ResourceName, uuid: string) {
  const [row] = await library.db.read.query<{ hlc: string; origin: string }>(
    'SELECT hlc, origin FROM tombstones WHERE resource_type = ? AND uuid = ?',
    [name, uuid],
  );
  return row;
}

test('a row deleted after it was synced is deleted on the peer, which keeps the tombstone', async () => {
  const [a, b] = members;
  const [tag, entry] = [fixedUuid(5, 1), fixedUuid(3, 1)];
  await write(a, async (tx) => {
    await tx.put('tag', { uuid: tag, name: 'holiday', color: '' });
    await putEntry(tx, entry, 'a.txt');
  });
  await pull(b, a);
  expect([await hasRow(b, 'tag', tag), await hasRow(b, 'entry', entry)]).toEqual([true, true]);

  await write(a, async (tx) => {
    await tx.delete('tag', tag);
    await tx.delete('entry', entry);
  });
  await pull(b, a);
  for (const [name, uuid] of [
    ['tag', tag],
    ['entry', entry],
  ] as const) {
    expect(await hasRow(b, name, uuid)).toBe(false);
    expect(await tombstoneOf(b, name, uuid)).toEqual(await tombstoneOf(a, name, uuid));
  }
  expect(await lostRows(a, b)).toEqual({});
});

test('a row deleted before it was ever sent reaches the peer as a tombstone only, and the peer keeps it', async () => {
  const [a, b, c] = members;
  const tag = fixedUuid(5, 2);
  await write(a, (tx) => tx.put('tag', { uuid: tag, name: 'draft', color: '' }));
  await pull(c, a); // C saw the row before the delete; B never does
  await write(a, (tx) => tx.delete('tag', tag));

  const seen: StateBatch[] = [];
  const transport = new HookedTransport(transportTo(a), { afterBatch: (batch) => void seen.push(batch) });
  expect((await syncUntilCut(b, transport, { batchSize: 3 })).error).toBeUndefined();
  const sentRecords = seen.flatMap((batch) =>
    batch.records.map((record) => unwrapRecord(resourceNameOf(batch.resourceType), record)?.uuid),
  );
  const sentTombstones = seen.flatMap((batch) => batch.tombstones.map((t) => t.uuid));
  expect(sentRecords).not.toContain(tag);
  expect(sentTombstones).toContain(tag);
  expect([await hasRow(b, 'tag', tag), await hasTombstone(b, 'tag', tag)]).toEqual([false, true]);

  // Kept: the stale row C still holds does not come back through B, and B relays the delete to C.
  await pull(b, c);
  expect([await hasRow(b, 'tag', tag), await hasTombstone(b, 'tag', tag)]).toEqual([false, true]);
  await pull(c, b);
  expect([await hasRow(c, 'tag', tag), await hasTombstone(c, 'tag', tag)]).toEqual([false, true]);
  expect(await tombstoneOf(c, 'tag', tag)).toEqual(await tombstoneOf(a, 'tag', tag));
});

test('a row deleted and re-created (same uuid, later put) ends as a row everywhere', async () => {
  const [a, b, c] = members;
  const [tag, entry, quick] = [fixedUuid(5, 3), fixedUuid(3, 3), fixedUuid(3, 4)];
  await write(a, async (tx) => {
    await tx.put('tag', { uuid: tag, name: 'v1', color: '' });
    await putEntry(tx, entry, 'v1.txt');
    await putEntry(tx, quick, 'quick.txt');
  });
  for (const member of [b, c]) await pull(member, a);

  // The shared tag is deleted on B; A's entries are deleted by A. Everyone sees the tombstones.
  await write(b, (tx) => tx.delete('tag', tag));
  await write(a, (tx) => tx.delete('entry', entry));
  await pull(a, b);
  await pull(b, a);
  await pull(c, b);
  for (const member of [a, b, c]) {
    expect(await hasTombstone(member, 'tag', tag)).toBe(true);
    expect(await hasTombstone(member, 'entry', entry)).toBe(true);
  }

  // Re-created later with the same uuids; `quick` is deleted and re-created in one transaction.
  await write(a, async (tx) => {
    await tx.put('tag', { uuid: tag, name: 'v2', color: '' });
    await putEntry(tx, entry, 'v2.txt');
    await tx.delete('entry', quick);
    await putEntry(tx, quick, 'quick-v2.txt');
  });
  await pull(b, a);
  await pull(c, b);
  await pull(a, c);
  for (const member of [a, b, c]) {
    for (const [name, uuid] of [
      ['tag', tag],
      ['entry', entry],
      ['entry', quick],
    ] as const) {
      expect(
        `${name} ${uuid}: row ${await hasRow(member, name, uuid)}, tombstone ${await hasTombstone(member, name, uuid)}`,
      ).toBe(`${name} ${uuid}: row true, tombstone false`);
    }
  }
  const [[{ name }], [{ relative_path }]] = [
    await c.db.read.query<{ name: string }>('SELECT name FROM tags WHERE uuid = ?', [tag]),
    await c.db.read.query<{ relative_path: string }>('SELECT relative_path FROM entries WHERE uuid = ?', [
      entry,
    ]),
  ];
  expect([name, relative_path]).toEqual(['v2', 'v2.txt']);
  const [da, db, dc] = await Promise.all([a, b, c].map(digestsOf));
  for (const name of ['tag', 'entry'] as const) expect([db[name], dc[name]]).toEqual([da[name], da[name]]);
});

test('tombstones relay A → B → C, keeping the deleting device as origin', async () => {
  const [a, b, c] = members;
  const [tag, entry, collection] = [fixedUuid(5, 4), fixedUuid(3, 5), fixedUuid(6, 1)];
  await write(a, async (tx) => {
    await tx.put('tag', { uuid: tag, name: 'relay', color: '' });
    await tx.put('collection', { uuid: collection, name: 'album', description: '' });
    await putEntry(tx, entry, 'relay.txt');
  });
  await pull(b, a);
  await pull(c, b); // C has never talked to A
  expect(await hasRow(c, 'entry', entry)).toBe(true);

  await write(a, async (tx) => {
    await tx.delete('tag', tag);
    await tx.delete('entry', entry);
  });
  await write(b, (tx) => tx.delete('collection', collection));
  await pull(b, a);
  await pull(c, b);
  for (const [name, uuid, origin] of [
    ['tag', tag, a.identity.deviceId],
    ['entry', entry, a.identity.deviceId],
    ['collection', collection, b.identity.deviceId],
  ] as const) {
    expect(await hasRow(c, name, uuid)).toBe(false);
    expect(await tombstoneOf(c, name, uuid)).toEqual({ hlc: expect.any(String), origin });
    expect(await tombstoneOf(c, name, uuid)).toEqual(await tombstoneOf(b, name, uuid));
  }
  expect(await lostRows(b, c)).toEqual({});
});
