import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sqlite3 from 'sqlite3';
import { Library, ResourceName } from '../src';
import { tempDir } from './fixtures';

/** The stored legacy library (built by fixtures/make-legacy-fixture.js). Never opened in place. */
export const LEGACY_FIXTURE = path.join(__dirname, 'fixtures', 'legacy-global-watermark-v0.db');

/**
 * A private copy of the fixture in a new temp dir: opening a library migrates it, and the stored
 * fixture must stay the legacy file it is.
 */
export function copyLegacyFixture(): string {
  const file = Library.fileIn(tempDir('tidemark-legacy-'));
  fs.copyFileSync(LEGACY_FIXTURE, file);
  return file;
}

export type RawRow = { [column: string]: string | number | null };

function openRaw(file: string, mode: number): Promise<sqlite3.Database> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, mode, (error) => (error ? reject(error) : resolve(db)));
  });
}

function closeRaw(db: sqlite3.Database): Promise<void> {
  return new Promise((resolve, reject) => db.close((error) => (error ? reject(error) : resolve())));
}

/** Reads a database file directly, without the engine (and so without migrating it). */
export async function rawQuery<Row = RawRow>(
  file: string,
  sql: string,
  params: unknown[] = [],
): Promise<Row[]> {
  const db = await openRaw(file, sqlite3.OPEN_READONLY);
  try {
    return await new Promise<Row[]>((resolve, reject) =>
      db.all(sql, params, (error, rows) => (error ? reject(error) : resolve(rows as Row[]))),
    );
  } finally {
    await closeRaw(db);
  }
}

/** Changes a database file directly, e.g. to give a copy of the fixture another device's view. */
export async function rawExec(file: string, sql: string): Promise<void> {
  const db = await openRaw(file, sqlite3.OPEN_READWRITE);
  try {
    await new Promise<void>((resolve, reject) =>
      db.exec(sql, (error) => (error ? reject(error) : resolve())),
    );
  } finally {
    await closeRaw(db);
  }
}

/** Resource types the legacy design had; membership came later. */
export type LegacyResourceName = Exclude<ResourceName, 'membership'>;

/** The legacy tables of each Tidemark resource type (same names, before the migration). */
export const LEGACY_TABLE_OF: { readonly [N in LegacyResourceName]: string } = {
  device: 'devices',
  volume: 'volumes',
  location: 'locations',
  content_identity: 'content_identities',
  entry: 'entries',
  tag: 'tags',
  collection: 'collections',
  tag_assignment: 'tag_assignments',
};

export interface LegacyLibrary {
  readonly libraryId: string;
  readonly deviceId: string;
  readonly name: string;
  readonly devices: RawRow[];
  readonly rows: { readonly [N in ResourceName]: RawRow[] };
}

/** Everything in a legacy file, read before the engine ever opens it. */
export async function readLegacy(file: string): Promise<LegacyLibrary> {
  const [library] = await rawQuery<{ library_id: string; device_uuid: string; name: string }>(
    file,
    'SELECT library_id, device_uuid, name FROM library',
  );
  // A legacy library has no membership changes: that type starts empty.
  const rows: Partial<{ [N in ResourceName]: RawRow[] }> = { membership: [] };
  for (const [name, table] of Object.entries(LEGACY_TABLE_OF) as [LegacyResourceName, string][]) {
    rows[name] = await rawQuery(file, `SELECT * FROM ${table} ORDER BY uuid`);
  }
  return {
    libraryId: library.library_id,
    deviceId: library.device_uuid,
    name: library.name,
    devices: rows.device ?? [],
    rows: rows as { [N in ResourceName]: RawRow[] },
  };
}
