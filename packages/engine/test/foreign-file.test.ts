/**
 * Opening a file that is not a Tidemark library refuses it as it is: opening migrates, and a
 * command that only reads (`tidemark status`, `doctor`) pointed at another program's database
 * used to give it Tidemark's tables and WAL mode before saying it was not a library.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sqlite3 from 'sqlite3';
import { isTidemarkError, Library } from '../src';
import { removeTempDirs, tempDir } from './fixtures';

afterAll(removeTempDirs);

const digestOf = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function run(file: string, sql: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, (openError) => {
      if (openError) return reject(openError);
      db.exec(sql, (error) => db.close(() => (error ? reject(error) : resolve())));
    });
  });
}

async function expectRefusedUnchanged(file: string): Promise<void> {
  const before = digestOf(file);
  const error = await Library.open(file).catch((e: unknown) => e);
  expect(isTidemarkError(error) && [error.code, error.message]).toEqual([
    'NOT_FOUND',
    `${file} has no library identity; it was not made by \`tidemark init\``,
  ]);
  expect(digestOf(file)).toBe(before);
  expect(fs.readdirSync(path.dirname(file)).sort()).toEqual([path.basename(file)]);
}

test("another program's SQLite database is refused and left byte for byte as it was", async () => {
  const file = Library.fileIn(tempDir());
  await run(
    file,
    "CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT); INSERT INTO photos (path) VALUES ('a.jpg');",
  );
  await expectRefusedUnchanged(file);
});

test('an empty file is refused and stays empty', async () => {
  const file = Library.fileIn(tempDir());
  fs.writeFileSync(file, '');
  await expectRefusedUnchanged(file);
});

test('a library made by Library.create still opens', async () => {
  const file = Library.fileIn(tempDir());
  await (await Library.create(file)).close();
  await (await Library.open(file)).close();
});

test('a library migrated by a newer Tidemark is refused with what to do, and left byte for byte as it was', async () => {
  // An older binary opened it and wrote as if the newer schema's columns and markers meant nothing.
  const file = Library.fileIn(tempDir());
  await (await Library.create(file)).close();
  await run(
    file,
    "INSERT INTO migrations (timestamp, name) VALUES (1799999999999, 'FromTheFuture1799999999999')",
  );
  const before = digestOf(file);
  const listing = fs.readdirSync(path.dirname(file)).sort();
  const error = await Library.open(file).catch((e: unknown) => e);
  expect(isTidemarkError(error) && [error.code, error.message]).toEqual([
    'FAILED_PRECONDITION',
    `${file} was upgraded by a newer version of Tidemark (schema migration FromTheFuture1799999999999); ` +
      'open it with that version or a later one',
  ]);
  expect(digestOf(file)).toBe(before);
  expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(listing);
});
