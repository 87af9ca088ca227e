/**
 * The engine's read functions: what the CLI and node read instead of SQL. Paged reads return
 * every item once, in order, whatever the page size; reads inside a write transaction see the
 * transaction's own writes.
 */
import { Entry, EntryKind } from '@tidemark/proto';
import {
  FieldsOf,
  isTidemarkError,
  Library,
  readEntriesOfLocation,
  readEntryAt,
  readEntryPlaces,
  readEntryUuidsAt,
  readEntriesByInode,
  readEntryStatesOfLocation,
  recordEntryFileIds,
  forgetEntryFileIds,
  readHeldUuids,
  readLocationsOfDevice,
  readCollections,
  readRecord,
  readRecords,
  readRecordsNamed,
  readTagAssignments,
  readTags,
  readTombstones,
  WriteTransaction,
} from '../src';
import { forgetRows, rewriteRowInPlace } from '../src/testing';
import { createLibrary, createMembers, removeTempDirs } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { syncOnce } from './sync-helpers';

let library: Library;
const LOCATION = fixedUuid(1, 1);
const OTHER_LOCATION = fixedUuid(1, 2);

beforeEach(async () => {
  library = await createLibrary();
});

afterEach(async () => {
  jest.restoreAllMocks();
  await library.close();
});

afterAll(removeTempDirs);

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function entryFields(
  tx: WriteTransaction,
  n: number,
  relativePath: string,
  location = LOCATION,
): FieldsOf<'entry'> {
  return {
    uuid: fixedUuid(2, n),
    deviceUuid: tx.deviceId,
    locationUuid: location,
    parentUuid: '',
    relativePath,
    kind: EntryKind.ENTRY_KIND_FILE,
    sizeBytes: n,
    modifiedAtMs: 1_000 + n,
    contentUuid: '',
  };
}

/** Writes entries named by `paths` (uuid n = index) into LOCATION, and one into another location. */
async function writeEntries(paths: readonly string[]): Promise<void> {
  await library.write(async (tx) => {
    for (const [n, relativePath] of paths.entries()) await tx.put('entry', entryFields(tx, n, relativePath));
    await tx.put('entry', entryFields(tx, 999, 'a-elsewhere', OTHER_LOCATION));
  });
}

const pathsOf = (entries: readonly Entry[]) => entries.map((entry) => entry.relativePath);

// Inserted out of order; byte order puts upper case before lower case and 'a/b' before 'a0'.
const PATHS = ['b', 'a/b', 'a', 'C', 'a0', 'z/y/x', 'é', 'a/a', 'm', 'n', 'o', 'p'];
const SORTED = [...PATHS].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

describe('entries of a location', () => {
  test.each([1, 2, 3, 4, 5, 11, 12, 13, 1_000])(
    'page size %i: every entry of the location once, in byte order of its path',
    async (pageSize) => {
      await writeEntries(PATHS);
      const entries = await collect(readEntriesOfLocation(library, LOCATION, { pageSize }));
      expect(pathsOf(entries)).toEqual(SORTED);
      expect(entries.every((entry) => entry.locationUuid === LOCATION)).toBe(true);
      // Records come back whole, with the sync fields the write path stamped.
      expect(entries.find((e) => e.relativePath === 'b')).toMatchObject({
        uuid: fixedUuid(2, 0),
        sizeBytes: 0,
        modifiedAtMs: 1_000,
        kind: EntryKind.ENTRY_KIND_FILE,
        origin: library.identity.deviceId,
      });
      expect(entries[0].hlc?.physicalMs).toBeGreaterThan(0);
    },
  );

  test.each([1, 2, 5, 12, 1_000])(
    'page size %i: entry states are the entries of the location, in the same order, with only the compared fields',
    async (pageSize) => {
      await writeEntries(PATHS);
      // Every other entry has its file recorded (inode = 100 + n); the rest read as 0 and 0.
      await library.write((tx) =>
        recordEntryFileIds(
          tx,
          LOCATION,
          PATHS.flatMap((_, n) =>
            n % 2 ? [{ entryUuid: fixedUuid(2, n), device: 7, inode: 100 + n, birthMs: 200 + n }] : [],
          ),
        ),
      );
      const entries = await collect(readEntriesOfLocation(library, LOCATION, { pageSize }));
      const states = await collect(readEntryStatesOfLocation(library, LOCATION, { pageSize }));
      expect(states).toEqual(
        entries.map(({ uuid, parentUuid, relativePath, kind, sizeBytes, modifiedAtMs, contentUuid }) => {
          const n = PATHS.indexOf(relativePath);
          return {
            uuid,
            parentUuid,
            relativePath,
            kind,
            sizeBytes,
            modifiedAtMs,
            contentUuid,
            device: n % 2 ? 7 : 0,
            inode: n % 2 ? 100 + n : 0,
            birthMs: n % 2 ? 200 + n : 0,
          };
        }),
      );
    },
  );

  test.each([1, 2, 1_000])(
    'page size %i: entry states of a range of paths are the states whose path is in it, by bytes',
    async (pageSize) => {
      await writeEntries(PATHS);
      const all = await collect(readEntryStatesOfLocation(library, LOCATION, { pageSize }));
      const bytes = (p: string) => Buffer.from(p);
      for (const [from, below] of [
        ['a/', 'a0'], // the subtree of a: not 'a', 'a0' (after '/'), nor 'a-x' (before it)
        ['C', 'b'],
        ['m', undefined],
        [undefined, 'a0'],
        ['é', 'z'],
      ] as const) {
        const inRange = all.filter(
          (state) =>
            (from === undefined || Buffer.compare(bytes(state.relativePath), bytes(from)) >= 0) &&
            (below === undefined || Buffer.compare(bytes(state.relativePath), bytes(below)) < 0),
        );
        const read = await collect(readEntryStatesOfLocation(library, LOCATION, { pageSize, from, below }));
        expect([from, below, read.map((s) => s.relativePath)]).toEqual([
          from,
          below,
          inRange.map((s) => s.relativePath),
        ]);
      }
      expect(
        (await collect(readEntryStatesOfLocation(library, LOCATION, { from: 'a/', below: 'a0' }))).map(
          (s) => s.relativePath,
        ),
      ).toEqual(['a/a', 'a/b']);
    },
  );

  test('entries by inode: only live entries of the location, recorded again on a move, forgotten on delete', async () => {
    await writeEntries(PATHS);
    await library.write(async (tx) => {
      await recordEntryFileIds(tx, LOCATION, [
        { entryUuid: fixedUuid(2, 0), device: 7, inode: 50, birthMs: 1 },
        { entryUuid: fixedUuid(2, 1), device: 8, inode: 50, birthMs: 1 },
        { entryUuid: fixedUuid(2, 2), device: 7, inode: 51, birthMs: 1 },
      ]);
      await recordEntryFileIds(tx, OTHER_LOCATION, [
        { entryUuid: fixedUuid(2, 999), device: 7, inode: 50, birthMs: 1 },
      ]);
    });
    const found = async (inodes: number[]) =>
      (await readEntriesByInode(library, LOCATION, inodes))
        .map((state) => `${state.relativePath}@${state.device}:${state.inode}`)
        .sort();
    // Inode 50 on two devices: both are returned, the caller matches the device.
    expect(await found([50, 99])).toEqual(['a/b@8:50', 'b@7:50']);
    await library.write(async (tx) => {
      // Entry 2 ('a') now names another file; entry 0 is deleted and its file forgotten.
      await recordEntryFileIds(tx, LOCATION, [
        { entryUuid: fixedUuid(2, 2), device: 7, inode: 52, birthMs: 1 },
      ]);
      await tx.delete('entry', fixedUuid(2, 0));
      await forgetEntryFileIds(tx, [fixedUuid(2, 0)]);
      // Entry 1 is deleted without forgetting its file: the read joins the live entries.
      await tx.delete('entry', fixedUuid(2, 1));
    });
    expect(await found([50, 51, 52])).toEqual(['a@7:52']);
  });

  test.each([
    [5, 3],
    [6, 3], // two full pages, then an empty one: a full page cannot tell it was the last
    [11, 2],
    [12, 2],
    [13, 1],
  ])('page size %i: %i statements, the last one the first short page', async (pageSize, pages) => {
    await writeEntries(PATHS);
    const read = library.db.read;
    const statements = jest.fn();
    jest.spyOn(library.db, 'read', 'get').mockReturnValue({
      dialect: read.dialect,
      query: (sql, params) => {
        statements(sql);
        return read.query(sql, params);
      },
    });
    expect(await collect(readEntriesOfLocation(library, LOCATION, { pageSize }))).toHaveLength(PATHS.length);
    expect(statements).toHaveBeenCalledTimes(pages);
  });

  test('an empty or unknown location yields nothing', async () => {
    expect(await collect(readEntriesOfLocation(library, LOCATION))).toEqual([]);
    await writeEntries(PATHS);
    expect(await collect(readEntriesOfLocation(library, fixedUuid(1, 9)))).toEqual([]);
  });

  test('two entries on one path (a misbehaving owner) are both returned once, across a page boundary', async () => {
    await writeEntries(['a', 'b', 'c', 'd']);
    // Entry 2 ('c') now also claims 'b': with page size 2, the first page ends on one of the two.
    await rewriteRowInPlace(library, 'entry', fixedUuid(2, 2), { relativePath: 'b' });
    for (const pageSize of [1, 2, 3]) {
      const entries = await collect(readEntriesOfLocation(library, LOCATION, { pageSize }));
      expect(pathsOf(entries)).toEqual(['a', 'b', 'b', 'd']);
      expect(new Set(entries.map((e) => e.uuid)).size).toBe(4);
    }
  });

  test('a write between two pages never makes an entry come twice; later paths are seen', async () => {
    await writeEntries(['a', 'c', 'e', 'g']);
    const seen: string[] = [];
    let written = false;
    for await (const entry of readEntriesOfLocation(library, LOCATION, { pageSize: 2 })) {
      seen.push(entry.relativePath);
      if (!written && seen.length === 2) {
        written = true;
        // One path before the keyset position, one after it, and a rewrite of a returned entry.
        await library.write(async (tx) => {
          await tx.put('entry', entryFields(tx, 10, 'b'));
          await tx.put('entry', entryFields(tx, 11, 'f'));
          await tx.put('entry', { ...entryFields(tx, 0, 'a'), sizeBytes: 77 });
        });
      }
    }
    expect(seen).toEqual(['a', 'c', 'e', 'f', 'g']);
  });

  test('a page size outside 1..10,000 is INVALID_ARGUMENT', async () => {
    for (const pageSize of [0, -1, 1.5, 10_001, Number.NaN]) {
      const error = await collect(readEntriesOfLocation(library, LOCATION, { pageSize })).catch((e) => e);
      expect(isTidemarkError(error) && error.code).toBe('INVALID_ARGUMENT');
    }
  });

  test('the entry at a path of a location, and nothing at a path of another location', async () => {
    await writeEntries(PATHS);
    expect(await readEntryAt(library, LOCATION, 'z/y/x')).toMatchObject({ uuid: fixedUuid(2, 5) });
    expect(await readEntryAt(library, LOCATION, 'a-elsewhere')).toBeUndefined();
    expect(await readEntryAt(library, OTHER_LOCATION, 'a-elsewhere')).toMatchObject({
      uuid: fixedUuid(2, 999),
    });
    expect(await readEntryAt(library, LOCATION, 'z/y')).toBeUndefined();
  });
  test('entry places: location and path by uuid, across statement boundaries and inside a transaction', async () => {
    await writeEntries(PATHS);
    const asked = [fixedUuid(2, 5), fixedUuid(2, 999), fixedUuid(3, 1)];
    // 5,000 uuids a statement: the known ones at both ends of a 12,000-uuid request.
    const many = [asked[0], ...Array.from({ length: 12_000 }, (_, i) => fixedUuid(4, i)), asked[1]];
    for (const wanted of [asked, many]) {
      const places = await readEntryPlaces(library, wanted);
      expect([...places].sort()).toEqual([
        [fixedUuid(2, 5), { locationUuid: LOCATION, relativePath: 'z/y/x' }],
        [fixedUuid(2, 999), { locationUuid: OTHER_LOCATION, relativePath: 'a-elsewhere' }],
      ]);
    }
    await library.write(async (tx) => {
      await tx.put('entry', { ...entryFields(tx, 5, 'moved', OTHER_LOCATION) });
      await tx.delete('entry', fixedUuid(2, 999));
      expect([...(await readEntryPlaces(tx, asked))]).toEqual([
        [fixedUuid(2, 5), { locationUuid: OTHER_LOCATION, relativePath: 'moved' }],
      ]);
    });
  });

  test('entry uuids by path of one location, across statement boundaries: paths of another location or with no entry are absent', async () => {
    await writeEntries(PATHS);
    const asked = ['z/y/x', 'a-elsewhere', 'nothing/here'];
    // 5,000 paths a statement: the known one at both ends of a 12,000-path request.
    const many = ['z/y/x', ...Array.from({ length: 12_000 }, (_, i) => `none/${i}`), 'z/y/x'];
    for (const wanted of [asked, many]) {
      expect([...(await readEntryUuidsAt(library, LOCATION, wanted))]).toEqual([['z/y/x', fixedUuid(2, 5)]]);
    }
    expect([...(await readEntryUuidsAt(library, OTHER_LOCATION, asked))]).toEqual([
      ['a-elsewhere', fixedUuid(2, 999)],
    ]);
  });
});

describe('records by uuid and of a whole type', () => {
  test('a record by uuid, until it is deleted; its tombstone then lists it', async () => {
    const uuid = fixedUuid(3, 1);
    await library.write((tx) => tx.put('tag', { uuid, name: 'holiday', color: '#ff8800' }));
    expect(await readRecord(library, 'tag', uuid)).toMatchObject({
      uuid,
      name: 'holiday',
      color: '#ff8800',
      origin: library.identity.deviceId,
    });
    expect(await readRecord(library, 'collection', uuid)).toBeUndefined();
    expect(await collect(readTombstones(library, 'tag'))).toEqual([]);

    await library.write((tx) => tx.delete('tag', uuid));
    expect(await readRecord(library, 'tag', uuid)).toBeUndefined();
    const tombstones = await collect(readTombstones(library, 'tag'));
    expect(tombstones).toMatchObject([{ uuid, origin: library.identity.deviceId }]);
    expect(await collect(readTombstones(library, 'collection'))).toEqual([]);
  });

  test.each([1, 6, 7, 8, 100])(
    'page size %i: every record and tombstone of a type once, in uuid order',
    async (pageSize) => {
      const uuids = Array.from({ length: 14 }, (_, n) => fixedUuid(4, 13 - n));
      await library.write(async (tx) => {
        for (const uuid of uuids) await tx.put('collection', { uuid, name: uuid.slice(-4), description: '' });
      });
      await library.write(async (tx) => {
        for (const uuid of uuids.slice(0, 7)) await tx.delete('collection', uuid);
      });
      const records = await collect(readRecords(library, 'collection', { pageSize }));
      expect(records.map((r) => r.uuid)).toEqual(uuids.slice(7).sort());
      const tombstones = await collect(readTombstones(library, 'collection', { pageSize }));
      expect(tombstones.map((t) => t.uuid)).toEqual(uuids.slice(0, 7).sort());
    },
  );

  test('held uuids: which of many uuids are rows, across statement boundaries', async () => {
    const all = Array.from({ length: 10_203 }, (_, n) => fixedUuid(5, n));
    const held = all.filter((_, n) => n % 1_000 === 0 || n === 4_999 || n === 5_000 || n === 10_202);
    await library.write(async (tx) => {
      for (const uuid of held)
        await tx.put('content_identity', { uuid, contentHash: 'h', sizeBytes: 1, mimeType: '' });
    });
    expect([...(await readHeldUuids(library, 'content_identity', all))].sort()).toEqual([...held].sort());
    expect(await readHeldUuids(library, 'content_identity', [])).toEqual(new Set());
    expect(await readHeldUuids(library, 'tag', held)).toEqual(new Set());
  });

  test('forgotten rows are gone without a tombstone', async () => {
    await writeEntries(['a', 'b', 'c']);
    await forgetRows(library, 'entry', [fixedUuid(2, 1)]);
    expect(pathsOf(await collect(readEntriesOfLocation(library, LOCATION)))).toEqual(['a', 'c']);
    expect(await collect(readTombstones(library, 'entry'))).toEqual([]);
  });
});

describe('reads inside a write transaction', () => {
  test('see the transaction’s own writes, flushed or not; the library sees them after commit', async () => {
    const uuid = fixedUuid(6, 1);
    await library.write(async (tx) => {
      await tx.put('tag', { uuid, name: 'fresh', color: '' });
      expect(await readRecord(tx, 'tag', uuid)).toMatchObject({ name: 'fresh' });
      expect(await readRecordsNamed(tx, 'tag', 'fresh')).toHaveLength(1);
      expect(await readRecord(library, 'tag', uuid)).toBeUndefined(); // not committed yet
      await tx.delete('tag', uuid);
      expect(await readRecord(tx, 'tag', uuid)).toBeUndefined();
      await tx.put('tag', { uuid, name: 'again', color: '' });
    });
    expect(await readRecord(library, 'tag', uuid)).toMatchObject({ name: 'again' });
    // The put after the delete cleared the delete's tombstone: a row and its tombstone never
    // both stand (the writer remembers, per transaction, whether a type has tombstones).
    expect(await collect(readTombstones(library, 'tag'))).toEqual([]);
  });

  test('a failed transaction leaves nothing its reads saw', async () => {
    const uuid = fixedUuid(6, 2);
    const failure = library.write(async (tx) => {
      await tx.put('tag', { uuid, name: 'doomed', color: '' });
      expect(await readRecord(tx, 'tag', uuid)).toBeDefined();
      throw new Error('abort');
    });
    await expect(failure).rejects.toThrow('abort');
    expect(await readRecord(library, 'tag', uuid)).toBeUndefined();
  });
});

describe('put if changed', () => {
  const volume = (deviceUuid: string, capacityBytes: number): FieldsOf<'volume'> => ({
    uuid: fixedUuid(7, 1),
    deviceUuid,
    name: 'disk',
    mountPoint: '/',
    filesystem: 'ext4',
    capacityBytes,
  });

  test('puts a new row and a changed one, and skips an unchanged one without moving the sequence', async () => {
    const device = library.identity.deviceId;
    expect(await library.write((tx) => tx.putIfChanged('volume', volume(device, 10)))).toBe(true);
    const head = await library.headSeq();
    const stored = await readRecord(library, 'volume', fixedUuid(7, 1));
    expect(await library.write((tx) => tx.putIfChanged('volume', volume(device, 10)))).toBe(false);
    expect(await library.headSeq()).toBe(head);
    expect(await readRecord(library, 'volume', fixedUuid(7, 1))).toEqual(stored);

    expect(await library.write((tx) => tx.putIfChanged('volume', volume(device, 11)))).toBe(true);
    expect(await library.headSeq()).toBe(head + 1);
    expect(await readRecord(library, 'volume', fixedUuid(7, 1))).toMatchObject({ capacityBytes: 11 });
  });

  test('compares with a put made earlier in the same transaction', async () => {
    const device = library.identity.deviceId;
    const results = await library.write(async (tx) => {
      await tx.put('volume', volume(device, 5));
      return [
        await tx.putIfChanged('volume', volume(device, 5)),
        await tx.putIfChanged('volume', volume(device, 6)),
      ];
    });
    expect(results).toEqual([false, true]);
  });
});

describe('locations, tags and collections', () => {
  test('locations of a device: its own, not another member’s it holds', async () => {
    const [a, b] = await createMembers(2);
    try {
      const locationOf = (tx: WriteTransaction, n: number) => ({
        uuid: fixedUuid(8, n),
        deviceUuid: tx.deviceId,
        volumeUuid: '',
        path: `/data/${n}`,
        name: String(n),
      });
      await a.write(async (tx) => {
        for (const n of [3, 1, 2]) await tx.put('location', locationOf(tx, n));
      });
      await b.write((tx) => tx.put('location', locationOf(tx, 4)));
      await syncOnce(b, a);
      const ofA = await readLocationsOfDevice(b, a.identity.deviceId);
      expect(ofA.map((l) => [l.uuid, l.path])).toEqual([1, 2, 3].map((n) => [fixedUuid(8, n), `/data/${n}`]));
      expect((await readLocationsOfDevice(b, b.identity.deviceId)).map((l) => l.uuid)).toEqual([
        fixedUuid(8, 4),
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('tags by name (several when devices raced), listed with assignment counts by name then uuid', async () => {
    const [t1, t2, t3] = [fixedUuid(9, 3), fixedUuid(9, 1), fixedUuid(9, 2)];
    const [c1, c2] = [fixedUuid(10, 1), fixedUuid(10, 2)];
    await library.write(async (tx) => {
      await tx.put('tag', { uuid: t1, name: 'trip', color: '' });
      await tx.put('tag', { uuid: t2, name: 'trip', color: '#000000' });
      await tx.put('tag', { uuid: t3, name: 'keep', color: '' });
      for (const [uuid, tag, content] of [
        [fixedUuid(11, 1), t1, c1],
        [fixedUuid(11, 2), t1, c2],
        [fixedUuid(11, 3), t3, c1],
      ]) {
        await tx.put('tag_assignment', { uuid, tagUuid: tag, contentUuid: content });
      }
    });
    expect((await readRecordsNamed(library, 'tag', 'trip')).map((t) => t.uuid)).toEqual([t2, t1]);
    expect(await readRecordsNamed(library, 'tag', 'Trip')).toEqual([]);
    expect(await readRecordsNamed(library, 'collection', 'trip')).toEqual([]);
    expect(
      (await readTags(library)).map(({ tag, assignments }) => [tag.name, tag.uuid, assignments]),
    ).toEqual([
      ['keep', t3, 1],
      ['trip', t2, 0],
      ['trip', t1, 2],
    ]);
    expect((await readTagAssignments(library, t1)).map((a) => a.contentUuid)).toEqual([c1, c2]);
    expect((await readTagAssignments(library, t1, c2)).map((a) => a.uuid)).toEqual([fixedUuid(11, 2)]);
    expect(await readTagAssignments(library, t2, c1)).toEqual([]);
  });

  test('collections by name then uuid', async () => {
    await library.write(async (tx) => {
      await tx.put('collection', { uuid: fixedUuid(12, 2), name: 'b', description: 'two' });
      await tx.put('collection', { uuid: fixedUuid(12, 3), name: 'a', description: '' });
      await tx.put('collection', { uuid: fixedUuid(12, 1), name: 'b', description: 'one' });
    });
    expect((await readCollections(library)).map((c) => [c.name, c.description])).toEqual([
      ['a', ''],
      ['b', 'one'],
      ['b', 'two'],
    ]);
    expect(await readRecordsNamed(library, 'collection', 'b')).toHaveLength(2);
  });
});
