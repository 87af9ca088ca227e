import { Entry } from '@tidemark/proto';
import { recordFromRow } from '../records';
import { columnsOf, RESOURCE_TABLES, StoredRow } from '../store/resource-tables';
import { keysetPages, PagedReadOptions, pageSizeOf } from './paging';
import { compareUtf8 } from './utf8-order';
import { ReadScope, runnerOf } from './scope';
import { selectRecords } from './stored-records';

const ENTRY_COLUMNS = columnsOf(RESOURCE_TABLES.entry).join(', ');

/**
 * The entries of one location in byte order of their relative path, read page by page on the
 * (location, path) index: an indexer can compare a whole tree with what is stored while holding
 * one page, not the location. Ties on a path (only a misbehaving owner could store two) are
 * broken by the rowid (SQLite) or the uuid (PostgreSQL), which that index carries, so the keyset
 * never skips or repeats one.
 */
export async function* readEntriesOfLocation(
  scope: ReadScope,
  locationUuid: string,
  options: PagedReadOptions = {},
): AsyncGenerator<Entry, void, undefined> {
  type Key = readonly [path: string, tieBreak: number | string];
  yield* keysetPages<Entry, Key>(pageSizeOf(options), async (after, limit) => {
    const sql = await runnerOf(scope);
    const tie = sql.dialect.entryTieBreak;
    const rows = await sql.query<StoredRow & { page_rowid: number | string }>(
      `SELECT ${ENTRY_COLUMNS}, ${tie} AS page_rowid FROM entries
       WHERE location_uuid = ? ${after ? `AND (relative_path, ${tie}) > (?, ?)` : ''}
       ORDER BY relative_path, ${tie} LIMIT ${limit}`,
      after ? [locationUuid, ...after] : [locationUuid],
    );
    const last = rows.at(-1);
    return {
      items: rows.map((row) => recordFromRow('entry', row) as Entry),
      last: last ? ([String(last.relative_path), last.page_rowid] as const) : undefined,
    };
  });
}

/** What an indexer compares a walked object with: an entry's identity, place and file state. */
export interface EntryState extends Pick<
  Entry,
  'uuid' | 'parentUuid' | 'relativePath' | 'kind' | 'sizeBytes' | 'modifiedAtMs' | 'contentUuid'
> {
  /** The file it was indexed from (see entry-file-ids.ts); all 0 when not recorded. */
  readonly device: number;
  readonly inode: number;
  readonly birthMs: number;
}

export interface EntryStateColumns {
  readonly uuid: string;
  readonly parent_uuid: string | null;
  readonly relative_path: string;
  readonly kind: number;
  readonly size_bytes: number;
  readonly modified_at_ms: number;
  readonly content_uuid: string | null;
  readonly device: number | null;
  readonly inode: number | null;
  readonly birth_ms: number | null;
}

/** An entry state from its row (the columns of ENTRY_STATE_COLUMNS). */
export function entryStateOf(row: EntryStateColumns): EntryState {
  return {
    uuid: String(row.uuid),
    parentUuid: row.parent_uuid ?? '',
    relativePath: String(row.relative_path),
    kind: Number(row.kind),
    sizeBytes: Number(row.size_bytes),
    modifiedAtMs: Number(row.modified_at_ms),
    contentUuid: row.content_uuid ?? '',
    device: Number(row.device ?? 0),
    inode: Number(row.inode ?? 0),
    birthMs: Number(row.birth_ms ?? 0),
  };
}

/** The columns of an entry state, on `entries e LEFT JOIN entry_file_ids f`. */
export const ENTRY_STATE_COLUMNS = `e.uuid, e.parent_uuid, e.relative_path, e.kind, e.size_bytes,
  e.modified_at_ms, e.content_uuid, f.device, f.inode, f.birth_ms`;

/** Which entries of a location to read: all of them, or a range of paths in byte order. */
export interface EntryStateReadOptions extends PagedReadOptions {
  /** Only paths at or after this one. */
  readonly from?: string;
  /** Only paths before this one (a subtree "d/" is the range from "d/" to "d0": '0' follows '/'). */
  readonly below?: string;
}

/** An entry state's columns in page order, then the keyset's tie-break, as `entry_page` names them. */
const STATE_PAGE_COLUMNS = [
  'uuid',
  'parent_uuid',
  'relative_path',
  'kind',
  'size_bytes',
  'modified_at_ms',
  'content_uuid',
  'device',
  'inode',
  'birth_ms',
  'page_rowid',
] as const;
const PATH_AT = STATE_PAGE_COLUMNS.indexOf('relative_path');
const TIE_AT = STATE_PAGE_COLUMNS.indexOf('page_rowid');

type StateValues = readonly unknown[];

function stateOfValues(values: StateValues): EntryState {
  return {
    uuid: String(values[0]),
    parentUuid: (values[1] as string | null) ?? '',
    relativePath: String(values[2]),
    kind: Number(values[3]),
    sizeBytes: Number(values[4]),
    modifiedAtMs: Number(values[5]),
    contentUuid: (values[6] as string | null) ?? '',
    device: Number(values[7] ?? 0),
    inode: Number(values[8] ?? 0),
    birthMs: Number(values[9] ?? 0),
  };
}

function compareStateKeys(a: StateValues, b: StateValues): number {
  const byPath = compareUtf8(String(a[PATH_AT]), String(b[PATH_AT]));
  if (byPath !== 0) return byPath;
  const [x, y] = [a[TIE_AT], b[TIE_AT]];
  return typeof x === 'number' && typeof y === 'number' ? x - y : String(x) < String(y) ? -1 : 1;
}

/**
 * The entry states of a location as pages, each in keyset order, read as readEntryStatesOfLocation
 * describes. A page comes back as ONE JSON text built by SQLite, not as a result set: node-sqlite3
 * makes every column of every row a JS value through N-API on the event loop, which cost an
 * unchanged re-index more main-thread time than its walk and stat (about 6 µs against 1 µs per
 * entry, measured at 51k entries); the database's thread builds the text, one JSON.parse reads it.
 * PostgreSQL returns plain rows as arrays, which costs less there (as serve.ts reads rows).
 */
export async function* readEntryStatePagesOfLocation(
  scope: ReadScope,
  locationUuid: string,
  options: EntryStateReadOptions = {},
): AsyncGenerator<EntryState[], void, undefined> {
  type Key = readonly [path: string, tieBreak: number | string];
  const range: string[] = [];
  const bounds: string[] = [];
  if (options.from !== undefined) {
    range.push('AND e.relative_path >= ?');
    bounds.push(options.from);
  }
  if (options.below !== undefined) {
    range.push('AND e.relative_path < ?');
    bounds.push(options.below);
  }
  const limit = pageSizeOf(options);
  let after: Key | undefined;
  let next: Promise<StateValues[]> | undefined;
  const readPage = async (from: Key | undefined): Promise<StateValues[]> => {
    const sql = await runnerOf(scope);
    const tie = `e.${sql.dialect.entryTieBreak}`;
    const page = `(SELECT ${ENTRY_STATE_COLUMNS}, ${tie} AS page_rowid
       FROM entries e LEFT JOIN entry_file_ids f ON f.entry_uuid = e.uuid
       WHERE e.location_uuid = ? ${range.join(' ')}
         ${from ? `AND (e.relative_path, ${tie}) > (?, ?)` : ''}
       ORDER BY e.relative_path, ${tie} LIMIT ${limit}) AS entry_page`;
    const params = from ? [locationUuid, ...bounds, ...from] : [locationUuid, ...bounds];
    if (sql.queryArrays) {
      return sql.queryArrays(`SELECT ${STATE_PAGE_COLUMNS.join(', ')} FROM ${page}`, params);
    }
    const [json] = await sql.query<{ rows: string }>(
      sql.dialect.rowsAsJson(STATE_PAGE_COLUMNS, page, 'relative_path, page_rowid'),
      params,
    );
    const rows = JSON.parse(json.rows) as StateValues[];
    // An aggregate's input order is the subquery's in practice but not by contract: check it.
    for (let index = 1; index < rows.length; index++) {
      if (compareStateKeys(rows[index - 1], rows[index]) > 0) {
        rows.sort(compareStateKeys);
        break;
      }
    }
    return rows;
  };
  try {
    for (let rows = await readPage(undefined); ; rows = await (next ?? readPage(after))) {
      next = undefined;
      const last = rows.at(-1);
      // A short page ends the read without asking for the empty one after it.
      const more = rows.length === limit && last !== undefined;
      if (more) {
        after = [String(last[PATH_AT]), last[TIE_AT] as number | string];
        // Read while the caller compares this page: two pages held, the database's work overlapped.
        next = readPage(after);
        // Awaited next turn, or dropped when the caller stops early: it must not go unhandled.
        next.catch(() => undefined);
      }
      if (rows.length > 0) yield rows.map(stateOfValues);
      if (!more) return;
    }
  } finally {
    await next?.catch(() => undefined);
  }
}

/**
 * The entries of one location as readEntriesOfLocation yields them (byte order of the relative
 * path, page by page on the (location, path) index), with only the columns an indexer compares:
 * a re-index of an unchanged tree reads every entry of the location, and the version columns
 * would be decoded for nothing. With `from` and `below`, only a range of paths is read (SQLite
 * compares TEXT bytewise, the walk's order): a rescan of one directory reads that directory.
 * The next page is read while the caller consumes this one.
 */
export async function* readEntryStatesOfLocation(
  scope: ReadScope,
  locationUuid: string,
  options: EntryStateReadOptions = {},
): AsyncGenerator<EntryState, void, undefined> {
  for await (const page of readEntryStatePagesOfLocation(scope, locationUuid, options)) yield* page;
}

/** The entry at `relativePath` in a location, if one is stored (the first by uuid if several are). */
export async function readEntryAt(
  scope: ReadScope,
  locationUuid: string,
  relativePath: string,
): Promise<Entry | undefined> {
  const [entry] = await selectRecords(
    await runnerOf(scope),
    'entry',
    'WHERE location_uuid = ? AND relative_path = ? ORDER BY uuid LIMIT 1',
    [locationUuid, relativePath],
  );
  return entry;
}

/** Where an entry is stored: its location and path. */
export interface EntryPlace {
  readonly locationUuid: string;
  readonly relativePath: string;
}

/** Uuids looked up per statement, bound as one JSON array. */
const PLACES_PER_STATEMENT = 5_000;

/**
 * Where each of these entries is stored now, by uuid (deleted ones are absent). An indexer checks
 * this in its write transaction before deleting entries it found gone: another run (another
 * location's, or another process's) may have moved one of them since it was read.
 */
export async function readEntryPlaces(
  scope: ReadScope,
  uuids: readonly string[],
): Promise<Map<string, EntryPlace>> {
  const sql = await runnerOf(scope);
  const places = new Map<string, EntryPlace>();
  for (let start = 0; start < uuids.length; start += PLACES_PER_STATEMENT) {
    const chunk = uuids.slice(start, start + PLACES_PER_STATEMENT);
    const rows = await sql.query<{ uuid: string; location_uuid: string; relative_path: string }>(
      `SELECT uuid, location_uuid, relative_path FROM entries
       WHERE uuid IN (SELECT value FROM ${sql.dialect.jsonTexts('?', 'wanted')})`,
      [JSON.stringify(chunk)],
    );
    for (const row of rows) {
      places.set(String(row.uuid), {
        locationUuid: String(row.location_uuid),
        relativePath: String(row.relative_path),
      });
    }
  }
  return places;
}

/**
 * The uuid of the entry stored at each of these paths of a location, by path (the first by uuid
 * where several are; paths with none are absent). An indexer asks this of the paths it found new:
 * another process indexing the same location (a `tidemark index` beside a node's watcher) may have
 * stored them since it read the location, and a path holds one entry.
 */
export async function readEntryUuidsAt(
  scope: ReadScope,
  locationUuid: string,
  relativePaths: readonly string[],
): Promise<Map<string, string>> {
  const sql = await runnerOf(scope);
  const uuids = new Map<string, string>();
  for (let start = 0; start < relativePaths.length; start += PLACES_PER_STATEMENT) {
    const chunk = relativePaths.slice(start, start + PLACES_PER_STATEMENT);
    const rows = await sql.query<{ uuid: string; relative_path: string }>(
      `SELECT uuid, relative_path FROM entries
       WHERE location_uuid = ? AND relative_path IN (SELECT value FROM ${sql.dialect.jsonTexts('?', 'wanted')})
       ORDER BY uuid`,
      [locationUuid, JSON.stringify(chunk)],
    );
    for (const row of rows) {
      const relativePath = String(row.relative_path);
      if (!uuids.has(relativePath)) uuids.set(relativePath, String(row.uuid));
    }
  }
  return uuids;
}
