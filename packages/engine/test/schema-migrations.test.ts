/**
 * The engine owns its schema through frozen migrations. Whatever path a library took to today
 * (created now, created at any earlier migration and upgraded, or converted from the legacy
 * global-watermark design), it ends with the same schema, and that schema is the one the table
 * descriptors (store/resource-tables.ts) describe.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataSource, QueryRunner } from 'typeorm';
import { RESOURCE_NAMES } from '../src/resource-types';
import { LibraryDatabase, SqlRunner } from '../src/store/library-database';
import { LIBRARY_MIGRATIONS } from '../src/store/migrations';
import { ownerColumnOf, RESOURCE_TABLES, sqlTypeOf } from '../src/store/resource-tables';
import { removeTempDirs, tempDir } from './fixtures';
import { LEGACY_FIXTURE } from './legacy-fixture';

afterAll(() => removeTempDirs());

type Migration = (typeof LIBRARY_MIGRATIONS)[number];

/** The migrations in the order TypeORM runs them: by the timestamp that ends each name. */
const MIGRATIONS: readonly Migration[] = [...LIBRARY_MIGRATIONS].sort(
  (a, b) => Number(new a().name.slice(-13)) - Number(new b().name.slice(-13)),
);
const MIGRATION_NAMES = MIGRATIONS.map((migration) => new migration().name);

const LIBRARY_0005_FIXTURE = path.join(__dirname, 'fixtures', 'library-0005.db');

interface Column {
  readonly name: string;
  readonly type: string;
  readonly notnull: number;
  readonly dflt_value: string | null;
  readonly pk: number;
}

/**
 * A database's schema, normalized so that two libraries compare equal when they behave alike:
 * a column added by ALTER TABLE is the same column as one a CREATE TABLE declared, wherever it
 * sits in the table and however the statement was laid out.
 */
interface Schema {
  readonly [object: string]: unknown;
}

/** Whitespace collapsed, none around punctuation: layout never makes two definitions differ. */
const normalized = (sql: string) =>
  sql
    .replace(/\s+/g, ' ')
    .replace(/\s*([(),=])\s*/g, '$1')
    .trim();

/** The CHECK constraints in a table's definition (the only constraint no pragma reports). */
function checksOf(sql: string): string[] {
  return [...normalized(sql).matchAll(/CHECK\s*\(((?:[^()]|\([^()]*\))*)\)/gi)]
    .map((match) => match[1])
    .sort();
}

async function schemaOf(sql: SqlRunner): Promise<Schema> {
  const objects = await sql.query<{ type: string; name: string; tbl_name: string; sql: string | null }>(
    "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
  );
  const schema: { [object: string]: unknown } = {};
  for (const object of objects) {
    if (object.type === 'table') {
      const columns = await sql.query<Column>(
        'SELECT name, upper(type) AS type, "notnull", dflt_value, pk FROM pragma_table_info(?)',
        [object.name],
      );
      const [shape] = await sql.query<{ wr: number; strict: number }>(
        'SELECT wr, strict FROM pragma_table_list(?)',
        [object.name],
      );
      const indexes = await sql.query<{ name: string; unique: number; origin: string; partial: number }>(
        'SELECT name, "unique", origin, partial FROM pragma_index_list(?) ORDER BY name',
        [object.name],
      );
      schema[`table ${object.name}`] = {
        // By name: ALTER TABLE appends, so column order is not part of what a table means.
        columns: [...columns].sort((a, b) => a.name.localeCompare(b.name)),
        checks: checksOf(object.sql ?? ''),
        foreignKeys: await sql.query('SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq', [
          object.name,
        ]),
        withoutRowid: shape.wr,
        strict: shape.strict,
        indexes: await Promise.all(
          indexes.map(async (index) => ({
            ...index,
            // Automatic indexes (UNIQUE, PRIMARY KEY) have generated names: their columns say what they are.
            name: index.origin === 'c' ? index.name : `${index.origin} index`,
            columns: await sql.query(
              'SELECT name, desc, coll, key FROM pragma_index_xinfo(?) ORDER BY seqno',
              [index.name],
            ),
          })),
        ),
      };
    } else if (object.sql !== null) {
      schema[`${object.type} ${object.name}`] = { on: object.tbl_name, sql: normalized(object.sql) };
    }
  }
  return schema;
}

async function withDatabase<T>(file: string, fn: (db: LibraryDatabase) => Promise<T>): Promise<T> {
  const db = await LibraryDatabase.open(file);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function migratedSchema(file: string): Promise<{ schema: Schema; ran: string[] }> {
  return withDatabase(file, async (db) => ({
    schema: await schemaOf(db.read),
    ran: (await db.read.query<{ name: string }>('SELECT name FROM migrations ORDER BY timestamp')).map(
      (row) => row.name,
    ),
  }));
}

/** A file with only the first `count` migrations run, the way TypeORM runs them. */
async function libraryAtMigration(count: number): Promise<string> {
  const file = path.join(tempDir('tidemark-schema-'), 'library.db');
  const source = new DataSource({
    type: 'sqlite',
    database: file,
    migrations: MIGRATIONS.slice(0, count),
    migrationsTransactionMode: 'each',
  });
  await source.initialize();
  try {
    await source.runMigrations({ transaction: 'each' });
    await fillEveryTable(source);
  } finally {
    await source.destroy();
  }
  return file;
}

/** A copy of a stored library file. */
function copyOf(fixture: string): string {
  const file = path.join(tempDir('tidemark-schema-'), 'library.db');
  fs.copyFileSync(fixture, file);
  return file;
}

/** Like `libraryAtMigration`, in WAL mode, as every library the engine opened is. */
async function walLibraryAtMigration(count: number): Promise<string> {
  const file = await libraryAtMigration(count);
  const source = new DataSource({ type: 'sqlite', database: file });
  await source.initialize();
  try {
    await source.query('PRAGMA journal_mode = WAL');
  } finally {
    await source.destroy();
  }
  return file;
}

/**
 * One row in every table, so that later migrations meet a library in use: a statement that
 * copies rows or adds a constraint can fail only where there are rows.
 */
async function fillEveryTable(source: DataSource): Promise<void> {
  const tables = await source.query<{ name: string }[]>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'migrations'",
  );
  for (const { name } of tables) {
    const columns = await source.query<Column[]>('SELECT * FROM pragma_table_info(?)', [name]);
    // `1` fits every column here: INTEGER ones, TEXT ones, and library_identity's CHECK (id = 1).
    const required = columns.filter((column) => column.notnull && column.dflt_value === null);
    await source.query(
      required.length === 0
        ? `INSERT INTO ${name} DEFAULT VALUES`
        : `INSERT INTO ${name} (${required.map((column) => column.name).join(', ')}) VALUES (${required
            .map((column) => (/INT/i.test(column.type) ? '1' : `'${name}-${column.name}'`))
            .join(', ')})`,
    );
  }
}

describe('the schema every library ends with', () => {
  let fresh: Schema;

  beforeAll(async () => {
    const created = await migratedSchema(path.join(tempDir('tidemark-schema-'), 'library.db'));
    expect(created.ran).toEqual(MIGRATION_NAMES);
    fresh = created.schema;
  });

  it('is the same for a legacy global-watermark library after every migration', async () => {
    const file = path.join(tempDir('tidemark-schema-'), 'library.db');
    fs.copyFileSync(LEGACY_FIXTURE, file);
    const legacy = await migratedSchema(file);
    expect(legacy.ran).toEqual(MIGRATION_NAMES);
    expect(legacy.schema).toEqual(fresh);
  });

  it('is the same for a library in use as the engine with migrations 0001-0005 left it (a stored file)', async () => {
    // Made by that engine, not by today's migrations: an edit to an applied migration changes
    // what new libraries get, but not this file (see fixtures/make-library-fixture.js).
    const file = path.join(tempDir('tidemark-schema-'), 'library.db');
    fs.copyFileSync(LIBRARY_0005_FIXTURE, file);
    const upgraded = await migratedSchema(file);
    expect(upgraded.ran).toEqual(MIGRATION_NAMES);
    expect(upgraded.schema).toEqual(fresh);
  });

  it.each(MIGRATION_NAMES.slice(0, -1).map((name, index) => [name, index + 1]))(
    'is the same for a library in use that stopped at %s and runs the rest',
    async (_name, count) => {
      const upgraded = await migratedSchema(await libraryAtMigration(count as number));
      expect(upgraded.ran).toEqual(MIGRATION_NAMES);
      expect(upgraded.schema).toEqual(fresh);
    },
  );

  it.each([
    ['the stored 0001-0005 file', () => Promise.resolve(copyOf(LIBRARY_0005_FIXTURE))],
    ['a WAL library that stopped at SignedMembership1733200000000', () => walLibraryAtMigration(7)],
  ])(
    'is reached by two opens at once of %s: both open, and each migration runs once',
    async (_what, make) => {
      // A node and `tidemark index` started together after an upgrade: the second opener read
      // the same pending migrations and ran them again ("table ... already exists").
      const file = await make();
      const opened = await Promise.allSettled([LibraryDatabase.open(file), LibraryDatabase.open(file)]);
      for (const result of opened) if (result.status === 'fulfilled') await result.value.close();
      expect(
        opened.map((result) => (result.status === 'rejected' ? String(result.reason) : 'opened')),
      ).toEqual(['opened', 'opened']);
      const upgraded = await migratedSchema(file);
      expect(upgraded.ran).toEqual(MIGRATION_NAMES);
      expect(upgraded.schema).toEqual(fresh);
    },
  );

  it('keeps the skipped rows counted before 0010, with this device as the origin of those in its name', async () => {
    const file = await libraryAtMigration(MIGRATION_NAMES.indexOf('SignedMembership1733200000000') + 1);
    const source = new DataSource({ type: 'sqlite', database: file });
    await source.initialize();
    try {
      await source.query('DELETE FROM skipped_rows');
      await source.query(
        `INSERT INTO skipped_rows (peer_device_id, resource_type, reason, rows, last_at_ms)
         VALUES ('peer', 'entry', 'own_identity', 3, 5), ('peer', 'tag', 'after_removal', 2, 6)`,
      );
    } finally {
      await source.destroy();
    }
    const kept = await withDatabase(file, (db) =>
      db.read.query('SELECT * FROM skipped_rows ORDER BY resource_type'),
    );
    expect(kept).toEqual([
      {
        peer_device_id: 'peer',
        origin_device_id: 'library_identity-device_id',
        resource_type: 'entry',
        reason: 'own_identity',
        rows: 3,
        last_at_ms: 5,
      },
      // Its writer was not recorded before 0010.
      {
        peer_device_id: 'peer',
        origin_device_id: '',
        resource_type: 'tag',
        reason: 'after_removal',
        rows: 2,
        last_at_ms: 6,
      },
    ]);
  });

  it('is what the table descriptors describe, column for column', async () => {
    const problems: string[] = [];
    const file = path.join(tempDir('tidemark-schema-'), 'library.db');
    await withDatabase(file, async (db) => {
      for (const name of RESOURCE_NAMES) {
        const table = RESOURCE_TABLES[name];
        const actual = new Map(
          (await db.read.query<Column>('SELECT * FROM pragma_table_info(?)', [table.table])).map((column) => [
            column.name,
            column,
          ]),
        );
        if (actual.size === 0) {
          problems.push(`${name}: no migration creates its table ${table.table}`);
          continue;
        }
        const expected: [string, string, string][] = [
          ['uuid', 'TEXT PRIMARY KEY NOT NULL', 'the row id'],
          ...table.fields.map((field): [string, string, string] => [
            field.column,
            sqlTypeOf(field.kind),
            `field ${field.field}, ${field.kind}`,
          ]),
          ['hlc', 'TEXT NOT NULL', 'the version'],
          ['origin', 'TEXT NOT NULL', 'the writer'],
          ['seq', 'INTEGER NOT NULL', 'the change sequence'],
          ['origin_seq', 'INTEGER NOT NULL DEFAULT 0', 'the seq at its origin'],
          ['origin_lineage', 'INTEGER NOT NULL DEFAULT 0', 'its origin lineage'],
        ];
        for (const [column, definition, what] of expected) {
          const found = actual.get(column);
          actual.delete(column);
          if (!found) {
            problems.push(
              `${table.table}.${column} (${name} ${what}) is in the descriptor but no migration creates it: ` +
                `add a migration running \`ALTER TABLE ${table.table} ADD COLUMN ${column} ${definition}\``,
            );
          } else if (definitionOf(found) !== definition) {
            problems.push(
              `${table.table}.${column} (${name} ${what}) is \`${definitionOf(found)}\` after the migrations, ` +
                `but the descriptor implies \`${definition}\``,
            );
          }
        }
        for (const column of actual.keys()) {
          problems.push(
            `${table.table}.${column} exists after the migrations but ${name}'s descriptor has no such field`,
          );
        }
        const indexed = await indexedColumns(db.read, table.table);
        if (!indexed.some((index) => index.unique && index.columns === 'seq')) {
          problems.push(`${table.table} has no UNIQUE index on seq, which serving scans`);
        }
        const owner = ownerColumnOf(name);
        if (owner !== undefined && !indexed.some((index) => index.columns.split(',')[0] === owner)) {
          problems.push(`${table.table} has no index led by its owner column ${owner}`);
        }
      }
    });
    expect(problems).toEqual([]);
  });
});

/** How a column reads as a definition, in the words of `sqlTypeOf`. */
function definitionOf(column: Column): string {
  return [
    column.type,
    column.pk ? 'PRIMARY KEY' : undefined,
    column.notnull ? 'NOT NULL' : undefined,
    column.dflt_value !== null ? `DEFAULT ${column.dflt_value}` : undefined,
  ]
    .filter((part) => part !== undefined)
    .join(' ');
}

async function indexedColumns(
  sql: SqlRunner,
  table: string,
): Promise<{ unique: boolean; columns: string }[]> {
  const indexes = await sql.query<{ name: string; unique: number }>(
    'SELECT name, "unique" FROM pragma_index_list(?)',
    [table],
  );
  return Promise.all(
    indexes.map(async (index) => ({
      unique: index.unique === 1,
      columns: (
        await sql.query<{ name: string }>('SELECT name FROM pragma_index_info(?) ORDER BY seqno', [
          index.name,
        ])
      )
        .map((column) => column.name)
        .join(','),
    })),
  );
}

describe('migrations are frozen', () => {
  const MIGRATIONS_DIR = path.join(__dirname, '..', 'src', 'store', 'migrations');

  it('import nothing of the engine that may change: no descriptor, no resource types, no helpers', () => {
    // Only typeorm, node built-ins, the error type and each other (legacy-schema.ts is frozen too).
    const allowed = (specifier: string) =>
      specifier === 'typeorm' ||
      specifier.startsWith('node:') ||
      specifier === '../../errors' ||
      /^\.\/[\w-]+$/.test(specifier);
    const offending = fs
      .readdirSync(MIGRATIONS_DIR)
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) =>
        [...fs.readFileSync(path.join(MIGRATIONS_DIR, file), 'utf8').matchAll(/\bfrom\s+'([^']+)'/g)]
          .map((match) => match[1])
          .filter((specifier) => !allowed(specifier))
          .map((specifier) => `${file} imports ${specifier}`),
      );
    expect(offending).toEqual([]);
  });

  /**
   * What each migration sends to SQLite, on a new file and on the legacy fixture, as it was when
   * it shipped. A migration that has run in any library must never change: a schema change is a
   * new migration. (A deliberate fix to how 0002 converts legacy rows, leaving the schema alone,
   * is the one reason to update a checksum here.)
   */
  const SHIPPED: { readonly [migration: string]: { readonly fresh: string; readonly legacy: string } } = {
    InitialSchema1732600000000: { fresh: 'e61667be0cdccf4c', legacy: '551044c2d0c763a4' },
    LegacyGlobalWatermark1732700000000: { fresh: '07aef7b964098d66', legacy: 'e532db469d03f6df' },
    PeerHeads1732800000000: { fresh: 'e2febd8624528ba4', legacy: 'e2febd8624528ba4' },
    MembersInvites1732900000000: { fresh: '771aad839beeaf6f', legacy: '771aad839beeaf6f' },
    FileIdentity1733000000000: { fresh: 'c762f8f376cda1dc', legacy: 'c762f8f376cda1dc' },
    Clocks1733100000000: { fresh: '9f6f79ad3e836779', legacy: '9f6f79ad3e836779' },
    SignedMembership1733200000000: { fresh: '098ae8b30889cd99', legacy: '098ae8b30889cd99' },
    CommitIds1733300000000: { fresh: 'bd0d83e50c0598a6', legacy: 'bd0d83e50c0598a6' },
    OriginPrefixes1733400000000: { fresh: '84e0a7b9630c3aec', legacy: '84e0a7b9630c3aec' },
    SkippedRowsOrigin1733500000000: { fresh: '50e71f0caa052298', legacy: '50e71f0caa052298' },
    EntryFileIds1733600000000: { fresh: '51a001d72e3a3c37', legacy: '51a001d72e3a3c37' },
    OwnLineageUnordered1733700000000: { fresh: '8bf3a11f4ed76c0b', legacy: '8bf3a11f4ed76c0b' },
  };

  it('send the SQL they shipped with', async () => {
    const sent = {
      fresh: await sqlSentBy(path.join(tempDir('tidemark-schema-'), 'library.db')),
      legacy: await sqlSentBy(
        (() => {
          const file = path.join(tempDir('tidemark-schema-'), 'library.db');
          fs.copyFileSync(LEGACY_FIXTURE, file);
          return file;
        })(),
      ),
    };
    const changed = MIGRATION_NAMES.flatMap((name) => {
      const now = `{ fresh: '${sent.fresh[name]}', legacy: '${sent.legacy[name]}' }`;
      if (SHIPPED[name] === undefined) return [`${name} is new: record ${now} for it in SHIPPED`];
      return SHIPPED[name].fresh === sent.fresh[name] && SHIPPED[name].legacy === sent.legacy[name]
        ? []
        : [
            `${name} has changed (now ${now}): an applied migration is frozen, make the change a new migration`,
          ];
    });
    expect(changed).toEqual([]);
  });
});

/** A checksum of the statements each migration runs on this file (their text, not their values). */
async function sqlSentBy(file: string): Promise<{ [migration: string]: string }> {
  const source = new DataSource({ type: 'sqlite', database: file });
  await source.initialize();
  const runner = source.createQueryRunner();
  const sums: { [migration: string]: string } = {};
  try {
    for (const migration of MIGRATIONS) {
      const statements: string[] = [];
      const recording = {
        query: (sql: string, params?: unknown[]) => {
          statements.push(sql);
          return runner.query(sql, params);
        },
      } as unknown as QueryRunner;
      const instance = new migration();
      await instance.up(recording);
      sums[instance.name] = createHash('sha256')
        .update(JSON.stringify(statements))
        .digest('hex')
        .slice(0, 16);
    }
  } finally {
    await runner.release();
    await source.destroy();
  }
  return sums;
}
