import { TidemarkError } from '../errors';
import { columnsOf, FieldKind, isIntegerKind, ResourceTable } from './resource-tables';

/**
 * Row images packed as one string per row, for the bulk upsert. A multi-row upsert has to get
 * thousands of rows into SQLite per statement. Binding each value costs the event loop an N-API
 * call, and a JSON array per row made SQLite re-parse the row's JSON once per column
 * (`value ->> i`), most of what each row's upsert cost. A packed row is read with `substr` on
 * its bytes instead, a fraction of that (docs/architecture.md, "Performance", has the figures).
 *
 * Layout (all offsets in UTF-8 bytes, so SQLite can slice the row as a BLOB in O(1); on TEXT,
 * `substr` counts characters from the start on every call):
 *   1. fixed-width columns, in table order: uuids as 36 characters (an empty optional uuid as 36
 *      spaces), integers as 16 zero-padded digits (2^53 has 16), the HLC as its 16 hex digits;
 *   2. for each variable-width column but the last, where it ends in the variable part, as
 *      5 digits (text is at most 4096 bytes, so a row's variable part stays far below 10^5);
 *   3. the variable-width columns (text, names, hashes), concatenated; the last runs to the end.
 * Every value reaches SQLite as it would bound: TEXT for strings, INTEGER for integers.
 */

const UUID_WIDTH = 36;
const INTEGER_WIDTH = 16;
const HLC_WIDTH = 16;
const OFFSET_WIDTH = 5;
const EMPTY_UUID = ' '.repeat(UUID_WIDTH);
const ZEROS = '0'.repeat(INTEGER_WIDTH);
const MAX_INTEGER_TEXT = 10 ** INTEGER_WIDTH;
const MAX_VARIABLE_BYTES = 10 ** OFFSET_WIDTH;

/** How one column of a row image is written into a packed row. */
type Slot = 'uuid' | 'optional_uuid' | 'integer' | 'hlc' | 'variable';

function slotOf(kind: FieldKind): Slot {
  if (isIntegerKind(kind)) return 'integer';
  // Any other kind is TEXT; only uuids have a fixed width.
  return kind === 'uuid' || kind === 'optional_uuid' ? kind : 'variable';
}

const WIDTH: { readonly [S in Exclude<Slot, 'variable'>]: number } = {
  uuid: UUID_WIDTH,
  optional_uuid: UUID_WIDTH,
  integer: INTEGER_WIDTH,
  hlc: HLC_WIDTH,
};

export class RowPackingError extends TidemarkError {
  constructor(message: string) {
    super('INTERNAL', message);
  }
}

/** Packs a table's row images and reads them back in SQL. */
export interface RowPacking {
  /** Columns in the order of `select`: uuid, data fields, hlc, origin, seq, origin seq, lineage. */
  readonly columns: readonly string[];
  /** One SQL expression per column, reading the packed row from `source` (a TEXT value). */
  select(source: string): string[];
  /** The packed row of one image: `values` in `columns` order without the sync columns. */
  pack(values: readonly unknown[], sync: SyncColumns): string;
}

/** The columns every synced row has besides its data. */
export interface SyncColumns {
  readonly hlc: string;
  readonly origin: string;
  readonly seq: number;
  /** The seq the version took at its origin; 0 when unknown. */
  readonly originSeq: number;
  /** The local id of the version's origin lineage; 0 when unknown. */
  readonly lineage: number;
}

const packings = new Map<string, RowPacking>();

export function rowPackingOf(table: ResourceTable): RowPacking {
  let packing = packings.get(table.table);
  if (!packing) packings.set(table.table, (packing = buildPacking(table)));
  return packing;
}

function buildPacking(table: ResourceTable): RowPacking {
  const columns = columnsOf(table);
  const slots: Slot[] = [
    'uuid',
    ...table.fields.map((field) => slotOf(field.kind)),
    'hlc',
    'uuid',
    'integer',
    'integer',
    'integer',
  ];
  const fixed = slots.flatMap((slot, index) => (slot === 'variable' ? [] : [index]));
  const variable = slots.flatMap((slot, index) => (slot === 'variable' ? [index] : []));
  const fixedWidth = fixed.reduce((sum, index) => sum + WIDTH[slots[index] as Exclude<Slot, 'variable'>], 0);
  const offsetsAt = fixedWidth + 1;
  const variableAt = offsetsAt + OFFSET_WIDTH * Math.max(0, variable.length - 1);

  const select = (source: string): string[] => {
    const bytes = `CAST(${source} AS BLOB)`;
    const expressions: string[] = new Array<string>(columns.length);
    let at = 1;
    for (const index of fixed) {
      const slot = slots[index] as Exclude<Slot, 'variable'>;
      const slice = `substr(${bytes}, ${at}, ${WIDTH[slot]})`;
      expressions[index] =
        slot === 'integer'
          ? `CAST(${slice} AS INTEGER)`
          : slot === 'optional_uuid'
            ? `rtrim(CAST(${slice} AS TEXT))`
            : `CAST(${slice} AS TEXT)`;
      at += WIDTH[slot];
    }
    const endOf = (k: number) =>
      k < 0 ? '0' : `CAST(substr(${bytes}, ${offsetsAt + k * OFFSET_WIDTH}, ${OFFSET_WIDTH}) AS INTEGER)`;
    variable.forEach((index, k) => {
      const start = `${variableAt} + ${endOf(k - 1)}`;
      expressions[index] =
        k === variable.length - 1
          ? `CAST(substr(${bytes}, ${start}) AS TEXT)`
          : `CAST(substr(${bytes}, ${start}, ${endOf(k)} - ${endOf(k - 1)}) AS TEXT)`;
    });
    return expressions;
  };

  const fail = (column: string, value: unknown): never => {
    throw new RowPackingError(
      `${table.table}.${column} cannot be packed: ${JSON.stringify(value)?.slice(0, 80)} (validation should have refused it)`,
    );
  };
  const fixedText = (column: string, value: unknown, width: number): string =>
    typeof value === 'string' && value.length === width ? value : fail(column, value);
  // Slicing a string of zeros rather than padStart: faster, and an entry has 4 integers.
  const integer = (column: string, value: unknown): string => {
    if (!(Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) < MAX_INTEGER_TEXT)) {
      return fail(column, value);
    }
    const digits = String(value);
    return ZEROS.slice(digits.length) + digits;
  };
  const lastVariable = variable[variable.length - 1];
  const dataSlots = slots.length - 5;

  const pack = (values: readonly unknown[], sync: SyncColumns): string => {
    if (values.length !== dataSlots) fail('*', values);
    let head = '';
    let offsets = '';
    let tail = '';
    let end = 0;
    for (let index = 0; index < dataSlots; index++) {
      const value = values[index];
      switch (slots[index]) {
        case 'uuid':
          head += fixedText(columns[index], value, UUID_WIDTH);
          break;
        case 'optional_uuid':
          head += value === '' ? EMPTY_UUID : fixedText(columns[index], value, UUID_WIDTH);
          break;
        case 'integer':
          head += integer(columns[index], value);
          break;
        case 'variable':
          if (typeof value !== 'string') fail(columns[index], value);
          tail += value as string;
          if (index !== lastVariable) {
            // Only the columns before the last need their length, and only they pay for it.
            end += Buffer.byteLength(value as string);
            if (end >= MAX_VARIABLE_BYTES) fail(columns[index], value);
            offsets += String(end).padStart(OFFSET_WIDTH, '0');
          }
          break;
      }
    }
    head +=
      fixedText('hlc', sync.hlc, HLC_WIDTH) +
      fixedText('origin', sync.origin, UUID_WIDTH) +
      integer('seq', sync.seq) +
      integer('origin_seq', sync.originSeq) +
      integer('origin_lineage', sync.lineage);
    // The byte offsets hold only if every fixed-width character is one byte. Validation makes
    // uuids and HLCs ASCII; this checks it natively rather than trusting every caller.
    if (Buffer.byteLength(head) !== head.length) fail('*', head);
    return head + offsets + tail;
  };

  return { columns, select, pack };
}
