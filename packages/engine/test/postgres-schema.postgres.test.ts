/**
 * The hub's schema (PostgreSQL only): its migrations are frozen, and a migrated hub has the
 * tables and columns a SQLite library has (same names, same nullability, integer where SQLite
 * has INTEGER), so the one set of statements and descriptors serves both.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Library } from '../src/library';
import { RESOURCE_NAMES } from '../src/resource-types';
import { POSTGRES_INITIAL_SCHEMA } from '../src/store/postgres-migrations/0001-initial-schema';
import { columnsOf, RESOURCE_TABLES } from '../src/store/resource-tables';
import { freshTestDatabaseUrl } from '../src/testing';
import { createLibrary, removeTempDirs } from './fixtures';

afterAll(removeTempDirs);

interface Column {
  readonly table: string;
  readonly column: string;
  readonly integer: boolean;
  readonly nullable: boolean;
}

const sorted = (columns: Column[]) =>
  columns.sort((a, b) => a.table.localeCompare(b.table) || a.column.localeCompare(b.column));

async function sqliteColumns(library: Library): Promise<Column[]> {
  const rows = await library.db.read.query<{ tbl: string; col: string; type: string; notnull: number }>(
    `SELECT m.name AS tbl, p.name AS col, p.type AS type, p."notnull" AS "notnull"
     FROM sqlite_master m JOIN pragma_table_info(m.name) p
     WHERE m.type = 'table' AND m.name NOT IN ('migrations', 'sqlite_sequence')`,
  );
  return sorted(
    rows.map((row) => ({
      table: row.tbl,
      column: row.col,
      integer: /INT/i.test(row.type),
      // SQLite lets a PRIMARY KEY column hold NULL unless it says NOT NULL; PostgreSQL never does.
      nullable: row.notnull === 0 && row.col !== 'id',
    })),
  );
}

async function postgresColumns(library: Library): Promise<Column[]> {
  const rows = await library.db.read.query<{
    table_name: string;
    column_name: string;
    data_type: string;
    is_nullable: string;
  }>(
    `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name <> 'migrations'`,
  );
  return sorted(
    rows.map((row) => ({
      table: row.table_name,
      column: row.column_name,
      integer: row.data_type === 'bigint',
      nullable: row.is_nullable === 'YES',
    })),
  );
}

test('a migrated hub has the tables and columns of a SQLite library, and of the table descriptors', async () => {
  const sqlite = await createLibrary({ databaseUrl: undefined });
  const hub = await createLibrary({ databaseUrl: freshTestDatabaseUrl() });
  try {
    expect(sqlite.store).toBe('sqlite');
    expect(hub.store).toBe('postgres');
    const ours = await postgresColumns(hub);
    expect(ours).toEqual(await sqliteColumns(sqlite));
    for (const name of RESOURCE_NAMES) {
      const table = RESOURCE_TABLES[name].table;
      expect(
        ours
          .filter((column) => column.table === table)
          .map((column) => column.column)
          .sort(),
      ).toEqual([...columnsOf(RESOURCE_TABLES[name])].sort());
    }
  } finally {
    await sqlite.close();
    await hub.close();
  }
});

test('the hub migrations are frozen: they send the SQL they shipped with, and import only typeorm', () => {
  // The text of 0001 as it shipped. A migration that has run in any hub never changes: a schema
  // change is a new numbered migration.
  expect(
    createHash('sha256').update(JSON.stringify(POSTGRES_INITIAL_SCHEMA)).digest('hex').slice(0, 16),
  ).toBe('211e553356f5149f');
  const dir = path.join(__dirname, '..', 'src', 'store', 'postgres-migrations');
  const imports = fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.ts'))
    .flatMap((file) =>
      [...fs.readFileSync(path.join(dir, file), 'utf8').matchAll(/\bfrom\s+'([^']+)'/g)].map(
        (match) => match[1],
      ),
    )
    .filter((specifier) => specifier !== 'typeorm' && !/^\.\/[\w-]+$/.test(specifier));
  expect(imports).toEqual([]);
});

test('opening: a directory with database.json opens the hub; a second directory can point at it; a schema holding a library is never created over', async () => {
  const url = freshTestDatabaseUrl();
  const hub = await createLibrary({ databaseUrl: url });
  const dir = path.dirname(hub.file);
  expect(path.basename(hub.file)).toBe('database.json');
  expect(fs.statSync(hub.file).mode & 0o777).toBe(0o600);
  expect(fs.existsSync(Library.fileIn(dir))).toBe(false);
  await hub.write((tx) =>
    tx.put('tag', { uuid: '00000000-0000-4000-8000-000000000001', name: 'shared', color: '' }),
  );
  const again = await Library.open(Library.fileIn(dir));
  const other = await createLibrary({ databaseUrl: undefined });
  const otherDir = path.dirname(other.file);
  await other.close();
  try {
    expect(again.identity).toEqual(hub.identity);
    expect(again.store).toBe('postgres');
    expect(again.databaseConnections).toMatchObject({ waiting: 0 });
    expect(again.databaseConnections!.open).toBeLessThanOrEqual(10);
    await expect(createLibrary({ databaseUrl: url })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    // A SQLite directory stays SQLite: library.db wins over any URL written beside it later.
    const reopened = await Library.open(Library.fileIn(otherDir));
    expect(reopened.store).toBe('sqlite');
    await reopened.close();
  } finally {
    await again.close();
    await hub.close();
  }
});

test('bad hub URLs and schemas are refused with a message saying what to fix', async () => {
  await expect(createLibrary({ databaseUrl: 'mysql://x@localhost/db' })).rejects.toMatchObject({
    code: 'INVALID_ARGUMENT',
  });
  const url = new URL(freshTestDatabaseUrl());
  url.searchParams.set('schema', 'Bad-Name');
  await expect(createLibrary({ databaseUrl: url.toString() })).rejects.toThrow(/schema "Bad-Name"/);
  url.searchParams.set('schema', 'no_library_here');
  await expect(
    Library.open('/nonexistent/library.db', { databaseUrl: url.toString() }),
  ).rejects.toMatchObject({
    code: 'NOT_FOUND',
  });
});

test('a hub migrated by a newer Tidemark is refused with what to do, and nothing in it changes', async () => {
  const hub = await createLibrary({ databaseUrl: freshTestDatabaseUrl() });
  const dir = path.dirname(hub.file);
  // An older binary opened it and wrote as if the newer schema's columns and markers meant nothing.
  await hub.db.read.query(
    "INSERT INTO migrations (timestamp, name) VALUES (1799999999999, 'FromTheFuture1799999999999')",
  );
  const migrations = async () =>
    (await hub.db.read.query<{ name: string }>('SELECT name FROM migrations ORDER BY id')).map(
      (row) => row.name,
    );
  const before = await migrations();
  try {
    await expect(Library.open(Library.fileIn(dir))).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining(
        'was upgraded by a newer version of Tidemark (schema migration FromTheFuture1799999999999); open it with that version or a later one',
      ),
    });
    expect(await migrations()).toEqual(before);
  } finally {
    await hub.close();
  }
});
