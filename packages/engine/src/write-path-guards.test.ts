/**
 * Guards of the one write path.
 * - It must refuse anything a peer's apply would reject: a local write that every peer rejects
 *   wedges that resource type (its batch fails at every peer, on every retry, and the watermark
 *   can never move past it).
 * - Only the owning device writes device-owned state, deletes included: a peer's tombstone
 *   carries no owner, so apply cannot tell a forged delete from a real one, and the write path
 *   is where it must be stopped.
 */
import { EntryKind } from '@tidemark/proto';
import { createMembers, removeTempDirs, TestClock } from '../test/fixtures';
import { fixedUuid, hasRow, hasTombstone, tombstoneCountOf } from '../test/scenario-helpers';
import { syncUntilCut, transportTo } from '../test/sync-helpers';
import { Library } from './library';
import { RESOURCE_TABLES } from './store/resource-tables';
import { writeSyntheticLibrary } from './testing/synthetic';

let a: Library;
let b: Library;

beforeEach(async () => {
  const clock = new TestClock();
  [a, b] = await createMembers(2, { clock: { now: clock.now } });
});

afterEach(async () => {
  await a.close();
  await b.close();
});

afterAll(removeTempDirs);

test.each(['not-a-uuid', '', 'abcdef00-0000-4000-8000-00000000000a'.toUpperCase(), `${fixedUuid(5, 1)} `])(
  'a local delete of the malformed uuid %j is refused, so no peer ever receives an unappliable tombstone',
  async (uuid) => {
    const head = await a.headSeq();
    await expect(
      a.write(async (tx) => {
        await tx.put('tag', { uuid: fixedUuid(5, 2), name: 'kept out too', color: '' });
        await tx.delete('tag', uuid);
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await a.headSeq()).toBe(head); // the whole transaction rolled back
    expect(await tombstoneCountOf(a, 'tag')).toBe(0);

    await a.write((tx) => tx.put('tag', { uuid: fixedUuid(5, 3), name: 'after', color: '' }));
    const run = await syncUntilCut(b, transportTo(a));
    expect(run.error).toBeUndefined();
    expect(run.events.filter((e) => e.kind === 'type_failed')).toEqual([]);
  },
);

test('a well-formed local delete still writes its tombstone', async () => {
  await a.write((tx) => tx.delete('tag', fixedUuid(5, 4)));
  expect(await tombstoneCountOf(a, 'tag')).toBe(1);
});

describe("only the owner writes device-owned state: another device's rows held here cannot be deleted or taken over", () => {
  async function aEntryOnB(): Promise<{ uuid: string; location: string }> {
    await writeSyntheticLibrary(a, { volumes: 1, locations: 1, entries: 3 });
    expect((await syncUntilCut(b, transportTo(a))).error).toBeUndefined();
    const [row] = await b.db.read.query<{ uuid: string; location_uuid: string }>(
      'SELECT uuid, location_uuid FROM entries ORDER BY seq LIMIT 1',
    );
    return { uuid: row.uuid, location: row.location_uuid };
  }

  test.each(['entry', 'location', 'volume', 'device'] as const)(
    "B cannot delete A's %s (A's copy would be deleted by B's tombstone)",
    async (name) => {
      await aEntryOnB();
      const [{ uuid }] =
        name === 'device'
          ? [{ uuid: a.identity.deviceId }]
          : await b.db.read.query<{ uuid: string }>(
              `SELECT uuid FROM ${RESOURCE_TABLES[name].table} LIMIT 1`,
            );
      const head = await b.headSeq();
      await expect(b.write((tx) => tx.delete(name, uuid))).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      expect(await b.headSeq()).toBe(head);
      expect(await hasTombstone(b, name, uuid)).toBe(false);

      // Had the delete gone through, this sync would remove A's own row on A.
      expect((await syncUntilCut(a, transportTo(b))).error).toBeUndefined();
      expect(await hasRow(a, name, uuid)).toBe(true);
    },
  );

  test("B cannot take over A's entry by writing it with itself as owner", async () => {
    const { uuid, location } = await aEntryOnB();
    await expect(
      b.write((tx) =>
        tx.put('entry', {
          uuid,
          deviceUuid: b.identity.deviceId,
          locationUuid: location,
          parentUuid: '',
          relativePath: 'hijacked',
          kind: EntryKind.ENTRY_KIND_FILE,
          sizeBytes: 0,
          modifiedAtMs: 0,
          contentUuid: '',
        }),
      ),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const [row] = await b.db.read.query<{ device_uuid: string }>(
      'SELECT device_uuid FROM entries WHERE uuid = ?',
      [uuid],
    );
    expect(row.device_uuid).toBe(a.identity.deviceId);
  });

  test("B cannot re-delete (or re-create) A's entry that A deleted: B holds only A's tombstone", async () => {
    const { uuid, location } = await aEntryOnB();
    await a.write((tx) => tx.delete('entry', uuid));
    expect((await syncUntilCut(b, transportTo(a))).error).toBeUndefined();
    expect(await hasTombstone(b, 'entry', uuid)).toBe(true);
    await expect(b.write((tx) => tx.delete('entry', uuid))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      b.write((tx) =>
        tx.put('entry', {
          uuid,
          deviceUuid: b.identity.deviceId,
          locationUuid: location,
          parentUuid: '',
          relativePath: 'revived',
          kind: EntryKind.ENTRY_KIND_FILE,
          sizeBytes: 0,
          modifiedAtMs: 0,
          contentUuid: '',
        }),
      ),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // A still owns the uuid: re-creating it later works, on A and, after a sync, on B.
    await a.write((tx) =>
      tx.put('entry', {
        uuid,
        deviceUuid: a.identity.deviceId,
        locationUuid: location,
        parentUuid: '',
        relativePath: 'back',
        kind: EntryKind.ENTRY_KIND_FILE,
        sizeBytes: 0,
        modifiedAtMs: 0,
        contentUuid: '',
      }),
    );
    expect((await syncUntilCut(b, transportTo(a))).error).toBeUndefined();
    expect(await hasRow(b, 'entry', uuid)).toBe(true);
  });

  test('the owner still deletes and rewrites its own rows, in bulk', async () => {
    await writeSyntheticLibrary(a, { volumes: 1, locations: 1, entries: 4_500 });
    const own = await a.db.read.query<{ uuid: string }>('SELECT uuid FROM entries');
    await a.write(async (tx) => {
      for (const { uuid } of own) await tx.delete('entry', uuid);
    });
    expect(await tombstoneCountOf(a, 'entry')).toBe(4_500);
    await a.write((tx) => tx.delete('device', a.identity.deviceId));
    expect(await hasTombstone(a, 'device', a.identity.deviceId)).toBe(true);
  });
});
