import { EntryKind } from '@tidemark/proto';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { decodeHlc, DEVICE_OWNED, encodeHlc, Library, RESOURCE_NAMES, ResourceName } from '../src';
import { SqlRunner } from '../src/store/library-database';
import { LIBRARY_MIGRATIONS } from '../src/store/migrations';
import { parseLegacyHlc, parseLegacyTime } from '../src/store/migrations/legacy-schema';
import { RESOURCE_TABLES } from '../src/store/resource-tables';
import { createLibrary, removeTempDirs, TestClock } from './fixtures';
import {
  copyLegacyFixture,
  LEGACY_FIXTURE,
  LEGACY_TABLE_OF,
  LegacyLibrary,
  RawRow,
  rawExec,
  rawQuery,
  readLegacy,
} from './legacy-fixture';
import { countRows, digestsOf, syncOnce } from './sync-helpers';

afterAll(() => removeTempDirs());

/**
 * The test's own reading of a legacy time, independent of the migration's parser: Date.parse
 * reads RFC 3339; SQLite's "YYYY-MM-DD HH:MM:SS" is UTC.
 */
const legacyMs = (text: string | number | null) => {
  const value = String(text);
  return Date.parse(value.includes('T') ? value : `${value.replace(' ', 'T')}Z`);
};

const DEVICE_ROW_HLC = encodeHlc({ physicalMs: 1, logical: 0 });

/** The version the migration must give a legacy row: its own time or legacy HLC, never "now". */
function expectedVersion(name: ResourceName, row: RawRow): { hlc: string; origin: string } {
  if (name === 'device') return { hlc: DEVICE_ROW_HLC, origin: String(row.uuid) };
  if (DEVICE_OWNED.has(name)) {
    const physicalMs = legacyMs(name === 'entry' ? row.indexed_at : row.updated_at);
    return { hlc: encodeHlc({ physicalMs, logical: 0 }), origin: String(row.device_uuid) };
  }
  const [ms, counter, device] = String(row.hlc).split(':');
  return { hlc: encodeHlc({ physicalMs: Number(ms), logical: Number(counter) }), origin: device };
}

function expectedRow(name: ResourceName, row: RawRow): RawRow {
  const out: RawRow = { uuid: row.uuid };
  for (const field of RESOURCE_TABLES[name].fields) {
    const value = row[field.column];
    out[field.column] = value ?? (field.kind === 'count' || field.kind === 'entry_kind' ? 0 : '');
  }
  // A row stored before origin seqs existed has none: never left out of a stream.
  return { ...out, ...expectedVersion(name, row), origin_seq: 0 };
}

async function rowsOf(sql: SqlRunner, name: ResourceName): Promise<RawRow[]> {
  return sql.query<RawRow>(`SELECT * FROM ${RESOURCE_TABLES[name].table} ORDER BY uuid`);
}

/** Without what is local to one database: its seq, and the id it gave the row's origin lineage. */
const withoutSeq = ({ seq: _seq, origin_lineage: _lineage, ...rest }: RawRow): RawRow => rest;

/** Every table, row and schema object of a database, for before/after comparisons. */
async function snapshot(sql: SqlRunner): Promise<{ [table: string]: unknown[] }> {
  const schema = await sql.query<{ type: string; name: string; sql: string | null }>(
    "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
  );
  const out: { [table: string]: unknown[] } = { schema };
  for (const { name } of schema.filter((object) => object.type === 'table')) {
    out[name] = await sql.query(`SELECT * FROM "${name}" ORDER BY rowid`);
  }
  return out;
}

/** Every registered migration by name, in the order TypeORM runs them (the class name's timestamp). */
const REGISTERED_MIGRATIONS = LIBRARY_MIGRATIONS.map((migration) => new migration().name).sort(
  (a, b) => Number(a.slice(-13)) - Number(b.slice(-13)),
);

async function executedMigrations(library: Library): Promise<string[]> {
  const rows = await library.db.read.query<{ name: string }>(
    'SELECT name FROM migrations ORDER BY timestamp',
  );
  return rows.map((row) => row.name);
}

async function tableNames(sql: SqlRunner): Promise<string[]> {
  const rows = await sql.query<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
  );
  return rows.map((row) => row.name);
}

function peerNamed(legacy: LegacyLibrary, name: string): RawRow {
  const peer = legacy.devices.find((device) => device.name === name);
  if (!peer) throw new Error(`the fixture has no device ${name}`);
  return peer;
}

describe('migration registration', () => {
  it('runs the legacy migration right after the initial schema, whatever comes later', () => {
    expect(REGISTERED_MIGRATIONS.slice(0, 2)).toEqual([
      'InitialSchema1732600000000',
      'LegacyGlobalWatermark1732700000000',
    ]);
    for (const migration of LIBRARY_MIGRATIONS) expect(new migration().name).toBe(migration.name);
  });
});

describe('the stored legacy fixture', () => {
  it('is a global-watermark library in the seed scenario, and tests never migrate it in place', async () => {
    expect(fs.statSync(LEGACY_FIXTURE).size).toBeLessThan(1024 * 1024);
    const tables = (
      await rawQuery<{ name: string }>(LEGACY_FIXTURE, "SELECT name FROM sqlite_master WHERE type = 'table'")
    )
      .map((row) => row.name)
      .sort();
    expect(tables).toEqual([...Object.values(LEGACY_TABLE_OF), 'library'].sort());
    const legacy = await readLegacy(LEGACY_FIXTURE);
    expect(legacy.devices).toHaveLength(3);
    expect(legacy.rows.volume).toHaveLength(5);
    expect(legacy.rows.location).toHaveLength(100);
    expect(legacy.rows.entry).toHaveLength(1000);
    // Each peer's one global watermark is later than every volume and location of that peer:
    // resuming from it, the legacy engine skipped them.
    for (const peer of legacy.devices.filter((device) => device.uuid !== legacy.deviceId)) {
      const watermark = legacyMs(peer.last_state_watermark);
      const owned = [...legacy.rows.volume, ...legacy.rows.location].filter(
        (row) => row.device_uuid === peer.uuid,
      );
      expect(owned.length).toBeGreaterThan(0);
      for (const row of owned) expect(legacyMs(row.updated_at)).toBeLessThan(watermark);
    }
  });
});

describe('migrating a legacy global-watermark library', () => {
  let file: string;
  let legacy: LegacyLibrary;
  let library: Library;

  beforeAll(async () => {
    file = copyLegacyFixture();
    legacy = await readLegacy(file);
    library = await Library.open(file);
  });
  afterAll(() => library.close());

  it('keeps the library and device ids and name, under a new epoch', async () => {
    expect(library.identity).toEqual({
      libraryId: legacy.libraryId,
      deviceId: legacy.deviceId,
      epoch: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      name: legacy.name,
    });
  });

  it('copies every legacy row with its fields, hlc and origin', async () => {
    for (const name of RESOURCE_NAMES) {
      const migrated = (await rowsOf(library.db.read, name)).map(withoutSeq);
      expect({ name, rows: migrated }).toEqual({
        name,
        rows: legacy.rows[name].map((row) => expectedRow(name, row)),
      });
    }
    // Spot checks of the mapping itself, beyond the expected-value helper.
    const [network] = await library.db.read.query<RawRow>(
      `SELECT volume_uuid FROM locations WHERE uuid = ?`,
      [legacy.rows.location.find((row) => row.volume_uuid === null)?.uuid],
    );
    expect(network.volume_uuid).toBe('');
    const shared = legacy.rows.tag[0];
    const [tag] = await library.db.read.query<{ hlc: string; origin: string }>(
      'SELECT hlc, origin FROM tags WHERE uuid = ?',
      [shared.uuid],
    );
    const [ms, counter, device] = String(shared.hlc).split(':');
    expect(decodeHlc(tag.hlc)).toEqual({ physicalMs: Number(ms), logical: Number(counter) });
    expect(tag.origin).toBe(device);
  });

  it('numbers the rows 1..N in the order the legacy engine wrote them', async () => {
    const all: { seq: number; hlc: string; uuid: string }[] = [];
    for (const name of RESOURCE_NAMES) {
      all.push(
        ...(await library.db.read.query<{ seq: number; hlc: string; uuid: string }>(
          `SELECT seq, hlc, uuid FROM ${RESOURCE_TABLES[name].table}`,
        )),
      );
    }
    const total = RESOURCE_NAMES.reduce((sum, name) => sum + legacy.rows[name].length, 0);
    all.sort((a, b) => a.seq - b.seq);
    expect(all.map((row) => row.seq)).toEqual(Array.from({ length: total }, (_, index) => index + 1));
    for (let i = 1; i < all.length; i++) {
      const [a, b] = [all[i - 1], all[i]];
      expect(a.hlc < b.hlc || (a.hlc === b.hlc && a.uuid < b.uuid)).toBe(true);
    }
    const [identity] = await library.db.read.query<{ last_seq: number; hlc_floor: string }>(
      'SELECT last_seq, hlc_floor FROM library_identity',
    );
    expect(identity.last_seq).toBe(total);
    expect(await library.headSeq()).toBe(total);
    expect(identity.hlc_floor).toBe(
      all
        .map((row) => row.hlc)
        .sort()
        .pop(),
    );
    expect(await countRows(library, 'tombstones')).toBe(0);
  });

  it('restarts every resource type of every legacy peer from zero, trusting no legacy watermark', async () => {
    const peers = legacy.devices
      .filter((device) => device.uuid !== legacy.deviceId)
      .filter((device) => device.last_state_watermark !== null || device.last_shared_watermark !== null)
      .map((device) => String(device.uuid))
      .sort();
    expect(peers).toHaveLength(2);
    const marks = await library.db.read.query<RawRow>(
      'SELECT peer_device_id, resource_type, peer_epoch, last_seq, last_hlc FROM resource_watermarks ORDER BY peer_device_id, resource_type',
    );
    // The types the legacy design had: membership came later, and starts from 0 without a row.
    expect(marks).toEqual(
      peers.flatMap((peer) =>
        [...RESOURCE_NAMES.filter((name) => name !== 'membership')].sort().map((name) => ({
          peer_device_id: peer,
          resource_type: name,
          peer_epoch: '',
          last_seq: 0,
          last_hlc: null,
        })),
      ),
    );
  });

  it('records the legacy watermarks for tidemark doctor', async () => {
    const records = await library.db.read.query<RawRow>(
      'SELECT peer_device_id, legacy_state_watermark, legacy_shared_watermark, migrated_at_ms FROM legacy_watermark_migrations ORDER BY peer_device_id',
    );
    const peers = legacy.devices
      .filter((device) => device.uuid !== legacy.deviceId)
      .sort((a, b) => (String(a.uuid) < String(b.uuid) ? -1 : 1));
    expect(records).toEqual(
      peers.map((peer) => ({
        peer_device_id: peer.uuid,
        legacy_state_watermark: peer.last_state_watermark,
        legacy_shared_watermark: peer.last_shared_watermark,
        migrated_at_ms: expect.any(Number),
      })),
    );
    // The seed's B: both legacy cursors; C: only the device-owned one.
    expect(records.find((row) => row.peer_device_id === peerNamed(legacy, 'nas').uuid)).toMatchObject({
      legacy_state_watermark: '2025-10-20 14:32:00',
      legacy_shared_watermark: expect.stringMatching(/^\d+:\d+:[0-9a-f-]{36}$/),
    });
    expect(records.find((row) => row.peer_device_id === peerNamed(legacy, 'laptop').uuid)).toMatchObject({
      legacy_shared_watermark: null,
    });
  });

  it('drops the legacy tables', async () => {
    const tables = await tableNames(library.db.read);
    expect(tables.filter((name) => name.startsWith('legacy_'))).toEqual(['legacy_watermark_migrations']);
    expect(tables).not.toContain('library');
    const devicesColumns = await library.db.read.query<{ name: string }>(
      'SELECT name FROM pragma_table_info(?)',
      ['devices'],
    );
    expect(devicesColumns.map((column) => column.name)).not.toContain('last_state_watermark');
    expect(await executedMigrations(library)).toEqual(REGISTERED_MIGRATIONS);
  });

  it('is idempotent: closing and reopening changes nothing', async () => {
    const before = await snapshot(library.db.read);
    const identity = library.identity;
    await library.close();
    library = await Library.open(file);
    expect(library.identity).toEqual(identity);
    expect(await snapshot(library.db.read)).toEqual(before);
  });

  it('then syncs every row of a peer, including rows older than the legacy watermark', async () => {
    const nas = peerNamed(legacy, 'nas');
    const peerId = String(nas.uuid);
    const legacyWatermarkMs = legacyMs(nas.last_state_watermark);
    // The peer, migrated or recreated under Tidemark, serves from its own new database.
    const clock = new TestClock(Date.UTC(2025, 9, 20, 14, 1));
    const peer = await createLibrary({
      libraryId: legacy.libraryId,
      deviceId: peerId,
      deviceName: 'nas',
      clock: { now: clock.now },
    });
    try {
      const newVolume = randomUUID();
      const newLocation = randomUUID();
      const legacyLocation = legacy.rows.location.find((row) => row.device_uuid === peerId)!;
      clock.ms = Date.UTC(2025, 9, 20, 14, 5);
      await peer.write((tx) =>
        tx.put('volume', {
          uuid: newVolume,
          deviceUuid: peerId,
          name: 'Backup',
          mountPoint: '/mnt/backup',
          filesystem: 'ext4',
          capacityBytes: 4_000_787_030_016,
        }),
      );
      clock.ms = Date.UTC(2025, 9, 20, 14, 6);
      await peer.write(async (tx) => {
        await tx.put('location', {
          uuid: newLocation,
          deviceUuid: peerId,
          volumeUuid: newVolume,
          path: '/mnt/backup/photos',
          name: 'Backup photos',
        });
        // A legacy row rewritten by its owner, still before the legacy watermark.
        await tx.put('location', {
          uuid: String(legacyLocation.uuid),
          deviceUuid: peerId,
          volumeUuid: String(legacyLocation.volume_uuid ?? ''),
          path: String(legacyLocation.path),
          name: 'Renamed on the NAS',
        });
      });
      const writeEntries = async (count: number, prefix: string) =>
        peer.write(async (tx) => {
          for (let i = 0; i < count; i++) {
            await tx.put('entry', {
              uuid: randomUUID(),
              deviceUuid: peerId,
              locationUuid: newLocation,
              parentUuid: '',
              relativePath: `${prefix}/IMG_${i}.jpg`,
              kind: EntryKind.ENTRY_KIND_FILE,
              sizeBytes: 1_000 + i,
              modifiedAtMs: Date.UTC(2025, 9, 1),
              contentUuid: '',
            });
          }
        });
      clock.ms = Date.UTC(2025, 9, 20, 14, 15);
      await writeEntries(20, 'before');
      clock.ms = Date.UTC(2025, 9, 20, 14, 40);
      await writeEntries(40, 'after');
      clock.ms = Date.UTC(2025, 9, 20, 14, 45);
      const tagUuid = randomUUID();
      await peer.write(async (tx) => {
        await tx.put('tag', { uuid: tagUuid, name: 'From the NAS', color: '#336699' });
        await tx.put('tag_assignment', {
          uuid: randomUUID(),
          tagUuid,
          contentUuid: String(legacy.rows.content_identity[0].uuid),
        });
      });

      const events = await syncOnce(library, peer, { batchSize: 16 });
      expect(events.filter((event) => event.kind === 'type_failed')).toEqual([]);

      for (const name of RESOURCE_NAMES) {
        const served = (await rowsOf(peer.db.read, name)).map(withoutSeq);
        const held = new Map((await rowsOf(library.db.read, name)).map((row) => [row.uuid, withoutSeq(row)]));
        for (const row of served) expect(held.get(row.uuid)).toEqual(row);
      }
      // The rows a cursor at the legacy watermark would have skipped did arrive.
      for (const name of ['volume', 'location'] as const) {
        const served = await rowsOf(peer.db.read, name);
        expect(served.length).toBeGreaterThan(0);
        for (const row of served)
          expect(decodeHlc(String(row.hlc)).physicalMs).toBeLessThan(legacyWatermarkMs);
      }
      // Legacy rows stay; the peer's new rows come on top.
      expect(await countRows(library, 'volumes')).toBe(legacy.rows.volume.length + 1);
      expect(await countRows(library, 'locations')).toBe(legacy.rows.location.length + 1);
      expect(await countRows(library, 'entries')).toBe(legacy.rows.entry.length + 60);
      expect(await countRows(library, 'tags')).toBe(legacy.rows.tag.length + 1);
      const [renamed] = await library.db.read.query<{ name: string }>(
        'SELECT name FROM locations WHERE uuid = ?',
        [legacyLocation.uuid],
      );
      expect(renamed.name).toBe('Renamed on the NAS');
      // The restarted cursors now stand on the peer's new epoch and seqs.
      for (const name of ['device', 'volume', 'location', 'entry', 'tag', 'tag_assignment'] as const) {
        const [mark] = await library.db.read.query<{ peer_epoch: string; last_seq: number }>(
          'SELECT peer_epoch, last_seq FROM resource_watermarks WHERE peer_device_id = ? AND resource_type = ?',
          [peerId, name],
        );
        const [head] = await peer.db.read.query<{ seq: number }>(
          `SELECT max(seq) AS seq FROM ${RESOURCE_TABLES[name].table}`,
        );
        expect({ name, ...mark }).toEqual({ name, peer_epoch: peer.identity.epoch, last_seq: head.seq });
      }
    } finally {
      await peer.close();
    }
  });
});

describe('two members of one legacy library, both migrated', () => {
  it('re-sync from zero writes only the rows the legacy watermark lost', async () => {
    const fileA = copyLegacyFixture();
    const fileB = copyLegacyFixture();
    const legacy = await readLegacy(fileA);
    const a = legacy.deviceId;
    const b = String(peerNamed(legacy, 'nas').uuid);
    // A lost what the seed bug loses: B's volumes and its earliest locations, older than A's
    // watermark for B.
    const lostLocations = legacy.rows.location.filter((row) => row.device_uuid === b).slice(0, 12);
    await rawExec(
      fileA,
      `DELETE FROM volumes WHERE device_uuid = '${b}';
       DELETE FROM locations WHERE uuid IN (${lostLocations.map((row) => `'${row.uuid}'`).join(', ')});`,
    );
    // B's own file: the same library seen from B, which had synced from A.
    await rawExec(
      fileB,
      `UPDATE library SET device_uuid = '${b}';
       UPDATE devices SET last_state_watermark = NULL, last_shared_watermark = NULL WHERE uuid = '${b}';
       UPDATE devices SET last_state_watermark = '2025-10-20 13:24:00' WHERE uuid = '${a}';`,
    );
    const libraryA = await Library.open(fileA);
    const libraryB = await Library.open(fileB);
    try {
      expect(libraryB.identity.deviceId).toBe(b);
      const events = await syncOnce(libraryA, libraryB, { batchSize: 100 });
      const received: Partial<Record<ResourceName, number>> = {};
      const written: Partial<Record<ResourceName, number>> = {};
      for (const event of events) {
        if (event.kind !== 'batch') continue;
        received[event.resourceType] = (received[event.resourceType] ?? 0) + event.received;
        written[event.resourceType] = (written[event.resourceType] ?? 0) + event.written;
      }
      // Every type restarted from zero: B sent all of it...
      for (const name of RESOURCE_NAMES)
        expect({ name, received: received[name] ?? 0 }).toEqual({ name, received: legacy.rows[name].length });
      // ...and identical versions on both sides (same legacy data, same stamps) were skipped.
      expect(written).toEqual({
        membership: 0,
        device: 0,
        volume: 2,
        location: lostLocations.length,
        content_identity: 0,
        entry: 0,
        tag: 0,
        collection: 0,
        tag_assignment: 0,
      });
      expect(await digestsOf(libraryA)).toEqual(await digestsOf(libraryB));
    } finally {
      await libraryA.close();
      await libraryB.close();
    }
  });
});

describe('legacy migration edge cases', () => {
  it('rejects corrupt legacy data with a clear error, printing nothing, and retries on the next open once it is fixed', async () => {
    const file = copyLegacyFixture();
    const [tag] = await rawQuery<{ uuid: string; hlc: string }>(
      file,
      'SELECT uuid, hlc FROM tags ORDER BY uuid LIMIT 1',
    );
    await rawExec(file, `UPDATE tags SET hlc = 'yesterday' WHERE uuid = '${tag.uuid}'`);
    // Nothing printed: a command's --json output must stay JSON (TypeORM's own logger printed
    // the failed migration on stdout).
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await expect(Library.open(file)).rejects.toThrow(
        `cannot migrate the legacy library: legacy_tags row "${tag.uuid}": hlc "yesterday" is not "ms:counter:device"`,
      );
      expect(log).not.toHaveBeenCalled();
    } finally {
      log.mockRestore();
    }
    // Nothing was half-done: the migrations run in one transaction, so the file is still the
    // legacy library, its rows whole in their tables, and no Tidemark table was left behind.
    expect(await rawQuery(file, 'SELECT count(*) AS n FROM entries')).toEqual([{ n: 1000 }]);
    expect(
      await rawQuery(
        file,
        "SELECT name FROM sqlite_master WHERE name IN ('library_identity', 'legacy_entries')",
      ),
    ).toEqual([]);
    await rawExec(file, `UPDATE tags SET hlc = '${tag.hlc}' WHERE uuid = '${tag.uuid}'`);
    const library = await Library.open(file);
    try {
      expect(await countRows(library, 'entries')).toBe(1000);
      expect(await countRows(library, 'tags')).toBe(10);
      expect(await countRows(library, 'resource_watermarks')).toBe(16);
    } finally {
      await library.close();
    }
  });

  it('survives legacy indexes whose names Tidemark uses', async () => {
    const file = copyLegacyFixture();
    await rawExec(
      file,
      'CREATE INDEX entries_location ON entries (location_uuid); CREATE INDEX volumes_owner ON volumes (device_uuid);',
    );
    const library = await Library.open(file);
    try {
      const columns = await library.db.read.query<{ name: string }>('SELECT name FROM pragma_index_info(?)', [
        'entries_location',
      ]);
      expect(columns.map((column) => column.name)).toEqual(['location_uuid', 'relative_path']);
      expect(await countRows(library, 'entries')).toBe(1000);
    } finally {
      await library.close();
    }
  });

  it('leaves a brand-new library without legacy records or watermarks', async () => {
    const library = await createLibrary();
    try {
      expect(await countRows(library, 'legacy_watermark_migrations')).toBe(0);
      expect(await countRows(library, 'resource_watermarks')).toBe(0);
      expect((await tableNames(library.db.read)).filter((name) => name.startsWith('legacy_'))).toEqual([
        'legacy_watermark_migrations',
      ]);
      expect(await executedMigrations(library)).toEqual(REGISTERED_MIGRATIONS);
      expect(await library.headSeq()).toBe(1);
    } finally {
      await library.close();
    }
  });

  it('reads every legacy time and HLC form, and refuses anything else', () => {
    const ms = Date.UTC(2025, 9, 20, 14, 32, 0, 250);
    expect(parseLegacyTime('2025-10-20T14:32:00.250+00:00')).toBe(ms);
    expect(parseLegacyTime('2025-10-20T14:32:00.250Z')).toBe(ms);
    expect(parseLegacyTime('2025-10-20T14:32:00.250417Z')).toBe(ms);
    expect(parseLegacyTime('2025-10-20T16:32:00.250+02:00')).toBe(ms);
    expect(parseLegacyTime('2025-10-20 14:32:00.25')).toBe(ms);
    expect(parseLegacyTime('2025-10-20 14:32:00')).toBe(ms - 250);
    for (const bad of ['', 'yesterday', '2025-02-30 10:00:00', '2025-10-20', '1760970720250', null, 42]) {
      expect(parseLegacyTime(bad)).toBeUndefined();
    }
    const device = randomUUID();
    expect(parseLegacyHlc(`1760970720250:7:${device}`)).toEqual({
      stamp: { physicalMs: 1760970720250, logical: 7 },
      device,
    });
    for (const bad of [
      '1760970720250:7',
      `x:7:${device}`,
      `1760970720250:70000:${device}`,
      '1:0:not-a-uuid',
      null,
    ]) {
      expect(parseLegacyHlc(bad)).toBeUndefined();
    }
  });
});
