/**
 * The bulk upsert passes rows to SQLite packed into one string each and slices them by byte
 * offset (packed-rows.ts). Every table must come back exactly as written, with the SQLite type
 * a bound value would have had (TEXT or INTEGER): multi-byte text before another text column
 * moves every offset after it, and the digests would not notice a type change on both peers.
 */
import { createLibrary, removeTempDirs } from '../../test/fixtures';
import { fixedUuid } from '../../test/scenario-helpers';
import { Library } from '../library';
import { RESOURCE_NAMES, ResourceName } from '../resource-types';
import { MAX_NAME_BYTES, MAX_TEXT_BYTES } from '../validate';
import { RowPackingError, rowPackingOf } from './packed-rows';
import { columnsOf, FieldKind, RESOURCE_TABLES } from './resource-tables';
import { RowWriter, VersionedRow } from './row-writer';

afterAll(removeTempDirs);

/** Text that shifts byte offsets: 2-, 3- and 4-byte UTF-8, JSON's special characters. */
const TEXTS = [
  '',
  'plain',
  'é'.repeat(MAX_NAME_BYTES / 2),
  'emoji 🦀 𝄞, 日本語, עברית, e\u0301',
  'quote " backslash \\ newline \n tab \t \u2028',
  '€'.repeat(MAX_TEXT_BYTES / 3),
];

function valueOf(kind: FieldKind, variant: number, column: number): string | number {
  // Row images hold stored forms: bytes as hex, flags and actions as integers.
  switch (kind) {
    case 'uuid':
      return fixedUuid(10 + column, variant);
    case 'optional_uuid':
      return variant % 2 === 0 ? '' : fixedUuid(10 + column, variant);
    case 'count':
      return [0, 1, 4096, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER][variant % 5];
    case 'entry_kind':
      return 1 + (variant % 3);
    case 'hash':
      return variant % 2 === 0 ? '' : 'ab'.repeat(64);
    case 'name': {
      const text = TEXTS[(variant + column) % TEXTS.length].slice(0, MAX_NAME_BYTES / 3);
      return text === '' ? 'n' : text;
    }
    case 'label':
      return TEXTS[(variant + column) % TEXTS.length].slice(0, MAX_NAME_BYTES / 3);
    case 'text':
    case 'path':
      return TEXTS[(variant + column) % TEXTS.length];
    case 'bytes':
      return variant % 2 === 0 ? '' : 'c0de'.repeat(1 + variant * 100);
    case 'flag':
      return variant % 2;
    case 'membership_action':
      return 1 + (variant % 3);
  }
}

/** Rows that put every text variant in every text column, next to every other variant. */
function rowsOf(name: ResourceName): VersionedRow[] {
  const { fields } = RESOURCE_TABLES[name];
  return Array.from({ length: TEXTS.length * 2 }, (_, variant) => ({
    values: [fixedUuid(9, variant), ...fields.map((field, column) => valueOf(field.kind, variant, column))],
    hlc: (0x18000000000 + variant).toString(16).padStart(12, '0') + 'ffff',
    origin: fixedUuid(8, variant),
    seq: 2 ** 40 + variant,
    originSeq: 2 ** 41 + variant,
    lineage: 1 + variant,
  }));
}

let library: Library;

beforeAll(async () => {
  library = await createLibrary();
});

afterAll(async () => {
  await library.close();
});

test.each(RESOURCE_NAMES)('%s rows come back exactly, as TEXT and INTEGER', async (name) => {
  const rows = rowsOf(name);
  await library.db.writeTransaction((sql) => new RowWriter(sql).upsertRows(name, rows));
  const table = RESOURCE_TABLES[name];
  const columns = columnsOf(table);
  const stored = await library.db.read.query<{ [column: string]: unknown }>(
    `SELECT ${columns.join(', ')}, ${columns.map((column) => `typeof(${column}) AS t_${column}`).join(', ')}
     FROM ${table.table} WHERE seq >= ? ORDER BY seq`,
    [2 ** 40],
  );
  const integerKinds: readonly string[] = ['count', 'entry_kind', 'flag', 'membership_action'];
  const typeOf = (index: number) =>
    index >= columns.length - 3 || (index > 0 && integerKinds.includes(table.fields[index - 1]?.kind))
      ? 'integer'
      : 'text';
  expect(stored).toEqual(
    rows.map((row) => {
      const values = [...row.values, row.hlc, row.origin, row.seq, row.originSeq, row.lineage];
      const expected: { [column: string]: unknown } = {};
      columns.forEach((column, index) => (expected[column] = values[index]));
      columns.forEach((column, index) => (expected[`t_${column}`] = typeOf(index)));
      return expected;
    }),
  );
});

test('an upsert replaces every column of a row it already has', async () => {
  const [first, second] = rowsOf('location');
  const replaced = { ...second, values: [first.values[0], ...second.values.slice(1)], seq: 2 ** 41 };
  await library.db.writeTransaction(async (sql) => {
    await new RowWriter(sql).upsertRows('location', [first]);
    await new RowWriter(sql).upsertRows('location', [replaced]);
  });
  const [row] = await library.db.read.query<{ [column: string]: unknown }>(
    'SELECT uuid, device_uuid, volume_uuid, path, name, hlc, origin, seq FROM locations WHERE uuid = ?',
    [first.values[0]],
  );
  expect(Object.values(row)).toEqual([...replaced.values, replaced.hlc, replaced.origin, replaced.seq]);
});

test.each([
  ['a negative count', 'volume', 5, -1],
  ['a fractional count', 'volume', 5, 1.5],
  ['a uuid of the wrong length', 'volume', 1, 'not-a-uuid'],
  ['a uuid-width value that is not ASCII', 'volume', 1, 'é'.repeat(36)],
  ['a number where text goes', 'volume', 2, 7],
])('packing refuses %s, and nothing is written', async (_, name, index, value) => {
  const [row] = rowsOf(name as ResourceName);
  const values = [...row.values];
  values[index as number] = value;
  const before = await library.db.read.query('SELECT count(*) AS n FROM volumes');
  const write = library.db.writeTransaction((sql) =>
    new RowWriter(sql).upsertRows(name as ResourceName, [{ ...row, values }]),
  );
  await expect(write).rejects.toThrow(RowPackingError);
  expect(await library.db.read.query('SELECT count(*) AS n FROM volumes')).toEqual(before);
});

test('packing refuses a malformed HLC or seq', () => {
  const packing = rowPackingOf(RESOURCE_TABLES.tag);
  const [row] = rowsOf('tag');
  expect(() => packing.pack(row.values, { ...row, hlc: 'short' })).toThrow(RowPackingError);
  expect(() => packing.pack(row.values, { ...row, seq: -1 })).toThrow(RowPackingError);
  expect(() => packing.pack(row.values.slice(1), row)).toThrow(RowPackingError);
});
