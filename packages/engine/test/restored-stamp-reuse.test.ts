/**
 * A version key (hlc, origin) reused for another write. A device that holds a shared row stamped
 * beyond the max drift stamps its edit as the held stamp's successor (stamp-above-held.ts);
 * restored from a backup taken before that edit, it stamps its next edit of the row with the very
 * same (hlc, origin). A put and a tombstone under one key are settled the same way everywhere: the
 * tombstone wins (hlc.ts, `compareVersionAndKind`). Two puts under one key with different values
 * are not (docs/architecture.md, "Restored libraries": a known limit).
 */
import * as fs from 'node:fs';
import { lastValueFrom, toArray } from 'rxjs';
import { compareWithPeer, resetWatermarks, syncFromPeer$ } from '../src';
import { Library } from '../src/library';
import { createLibrary, removeTempDirs, TestClock } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { syncOnce, transportTo } from './sync-helpers';

afterAll(removeTempDirs);

const DAY_MS = 24 * 3_600_000;
const T0 = Date.UTC(2025, 9, 20, 14, 0, 0);
const TAG = fixedUuid(5, 1);

async function versionOf(library: Library) {
  const rows = await library.db.read.query<{
    kind: string;
    name: string | null;
    hlc: string;
    origin: string;
  }>(
    `SELECT 'row' AS kind, name, hlc, origin FROM tags WHERE uuid = ?1
     UNION ALL SELECT 'tombstone', NULL, hlc, origin FROM tombstones WHERE resource_type = 'tag' AND uuid = ?1`,
    [TAG],
  );
  return rows;
}

async function scenario(secondEdit: (a: Library) => Promise<void>) {
  const aClock = new TestClock(T0);
  const c = await createLibrary({ clock: { now: new TestClock(T0 + DAY_MS).now } });
  const libraryId = c.identity.libraryId;
  let a = await createLibrary({ libraryId, clock: { now: aClock.now } });
  const b = await createLibrary({ libraryId, clock: { now: new TestClock(T0).now } });

  await c.write((tx) => tx.put('tag', { uuid: TAG, name: 'by c, a day fast', color: '' }));
  await syncOnce(a, c, { types: ['tag'] });
  const file = a.db.file;
  await a.close();
  fs.copyFileSync(file, `${file}.backup`); // A's backup: holds C's version
  a = await Library.open(file, { clock: { now: aClock.now } });
  aClock.advance(1_000);
  await a.write((tx) => tx.put('tag', { uuid: TAG, name: 'first edit by a', color: '' }));
  await syncOnce(b, a, { types: ['tag'] });

  // A is restored from its backup (a new epoch), and edits the row again.
  await a.close();
  fs.renameSync(`${file}.backup`, file);
  aClock.advance(60_000);
  a = await Library.open(file, { clock: { now: aClock.now } });
  await secondEdit(a);

  // Everyone syncs with everyone, twice.
  for (let round = 0; round < 2; round++) {
    for (const [client, server] of [
      [a, b],
      [b, a],
      [a, c],
      [c, a],
      [b, c],
      [c, b],
    ] as const) {
      await syncOnce(client, server, { types: ['tag'] });
    }
  }
  return { a, b, c };
}

test('a restored device that deletes a row under the (hlc, origin) of a put it made before the restore: after repair --adopt-own both ends hold the tombstone', async () => {
  const { a, b, c } = await scenario((a) => a.write((tx) => tx.delete('tag', TAG)));
  // Repair, as `tidemark repair --adopt-own` runs it, from B's side and from A's side.
  for (const [client, server] of [
    [a, b],
    [b, a],
  ] as const) {
    const differing = (await compareWithPeer(client, transportTo(server), { includeOwn: true }))
      .filter((t) => !t.equal)
      .map((t) => t.resourceType);
    await resetWatermarks(client, server.identity.deviceId, differing);
    await lastValueFrom(
      syncFromPeer$(client, transportTo(server), { types: differing, adoptOwnRows: true }).pipe(toArray()),
    );
  }
  const va = await versionOf(a);
  const vb = await versionOf(b);
  expect(va.map((v) => v.kind)).toEqual(['tombstone']);
  expect(vb.map((v) => v.kind)).toEqual(['tombstone']);
  for (const library of [a, b, c]) await library.close();
});
