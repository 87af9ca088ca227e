import { Checkpoint, Record as WireRecord, StateBatch, Tombstone } from '@tidemark/proto';
import { Observable } from 'rxjs';
import { decodeHlc } from './hlc';
import { Library } from './library';
import { recordFromValues, tombstoneFromRow, wrapRecord } from './records';
import { ResourceName, resourceTypeOf } from './resource-types';
import { SqlRunner } from './store/library-database';
import { columnsOf, RESOURCE_TABLES, StoredRow, StoredValues } from './store/resource-tables';

export const DEFAULT_BATCH_SIZE = 1_000;
export const MAX_BATCH_SIZE = 10_000;

/** A cursor on one resource type of the serving database. */
export interface ResourceCursor {
  /** Epoch of the database the seq belongs to; '' when the client has none yet. */
  readonly epoch: string;
  readonly seq: number;
}

export interface BackfillOptions {
  /** Keep the stream open after catching up and send new commits as they happen. */
  readonly follow?: boolean;
  /**
   * Called after each batch is emitted; the next page is read only when it resolves. A transport
   * passes its flow control here (gRPC: wait for 'drain' when write() returned false), so a slow
   * reader never makes the server hold more than the batch in flight.
   */
  readonly backpressure?: () => Promise<void>;
  /** In follow mode, skip the first caught-up batch (the caller already sent one). */
  readonly quietCatchUp?: boolean;
}

/** One page of a resource type: rows and tombstones with seq in (afterSeq, lastSeq]. */
export interface ResourcePage {
  readonly records: WireRecord[];
  readonly tombstones: Tombstone[];
  /** Highest seq in the page; `afterSeq` when the page is empty. */
  readonly lastSeq: number;
  readonly lastHlc: string | undefined;
  /** True when the page holds fewer items than asked: the type is caught up. */
  readonly caughtUp: boolean;
}

/**
 * Reads one page by keyset on the seq indexes, never OFFSET. The upper bound is fixed first by
 * one statement over rows and tombstones together (one consistent snapshot); everything with
 * seq <= that bound has committed, because seqs are taken under the write lock in commit order.
 * A row updated after that moves beyond the bound and is served again later, never lost.
 */
export async function readPage(
  sql: SqlRunner,
  name: ResourceName,
  afterSeq: number,
  limit: number,
): Promise<ResourcePage> {
  const table = RESOURCE_TABLES[name];
  // One more than the limit tells "more to come" from "this page ends the type" without a count,
  // so an exactly full last page is already marked caught up. The probe answers in one row (how
  // many, the last, the limit-th) rather than returning its up to limit + 1 seqs: node-sqlite3
  // builds an object per returned row (docs/architecture.md, "Performance").
  const [probe] = await sql.query<{ n: number; last: number | null; atLimit: number | null }>(
    `WITH firsts AS MATERIALIZED (
       SELECT seq FROM (
         SELECT seq FROM (SELECT seq FROM ${table.table} WHERE seq > ?1 ORDER BY seq LIMIT ?2)
         UNION ALL
         SELECT seq FROM (SELECT seq FROM tombstones WHERE resource_type = ?3 AND seq > ?1 ORDER BY seq LIMIT ?2))
       ORDER BY seq LIMIT ?2)
     SELECT (SELECT count(*) FROM firsts) AS n, (SELECT max(seq) FROM firsts) AS last,
            (SELECT seq FROM firsts ORDER BY seq LIMIT 1 OFFSET ?4) AS atLimit`,
    [afterSeq, limit + 1, name, limit - 1],
  );
  if (probe.n === 0)
    return { records: [], tombstones: [], lastSeq: afterSeq, lastHlc: undefined, caughtUp: true };
  let caughtUp = probe.n <= limit;
  let upper = Number(caughtUp ? probe.last : probe.atLimit);
  const columns = columnsOf(table);
  const seqAt = columns.indexOf('seq');
  const hlcAt = columns.indexOf('hlc');
  let rows = await readRows(sql, table.table, columns, seqAt, afterSeq, upper);
  let tombstones = await sql.query<StoredRow>(
    'SELECT uuid, hlc, origin, seq FROM tombstones WHERE resource_type = ? AND seq > ? AND seq <= ? ORDER BY seq',
    [name, afterSeq, upper],
  );
  const cut = byteBudgetCut(rows, seqAt, tombstones);
  if (cut !== undefined && cut < upper) {
    // Rows of maximum-length strings would not fit one gRPC message: end the page early, at a
    // seq boundary, and let the next page carry on from there.
    upper = cut;
    caughtUp = false;
    rows = rows.filter((row) => Number(row[seqAt]) <= cut);
    tombstones = tombstones.filter((row) => Number(row.seq) <= cut);
  }
  const lastRow = rows[rows.length - 1];
  const lastTombstone = tombstones[tombstones.length - 1];
  const lastHlc =
    lastTombstone && (!lastRow || Number(lastTombstone.seq) > Number(lastRow[seqAt]))
      ? lastTombstone.hlc
      : lastRow?.[hlcAt];
  return {
    records: rows.map((row) => wrapRecord(name, recordFromValues(name, row))),
    tombstones: tombstones.map((row) => tombstoneFromRow(name, row)),
    lastSeq: upper,
    lastHlc: lastHlc === undefined || lastHlc === null ? undefined : String(lastHlc),
    caughtUp,
  };
}

/**
 * Rows with seq in (afterSeq, upper], in seq order, as value arrays in `columns` order. They
 * come back as ONE JSON text built by SQLite rather than as a result set: node-sqlite3 makes
 * every column of every row a JS value through N-API on the event loop, which costs several
 * times one JSON.parse, and serving a backfill is mostly this read. The arrays are used as they
 * are parsed, with no keyed object per row (docs/architecture.md, "Performance", has the
 * figures). Like node-sqlite3, json_array ends a string at a NUL; validate.ts refuses NUL in
 * every string field.
 */
async function readRows(
  sql: SqlRunner,
  tableName: string,
  columns: readonly string[],
  seqAt: number,
  afterSeq: number,
  upper: number,
): Promise<StoredValues[]> {
  const [page] = await sql.query<{ rows: string }>(
    `SELECT json_group_array(json_array(${columns.join(', ')})) AS rows
     FROM (SELECT ${columns.join(', ')} FROM ${tableName} WHERE seq > ? AND seq <= ? ORDER BY seq)`,
    [afterSeq, upper],
  );
  const rows = JSON.parse(page.rows) as StoredValues[];
  // An aggregate's input order is the subquery's in practice but not by contract: check it.
  for (let index = 1; index < rows.length; index++) {
    if (Number(rows[index][seqAt]) < Number(rows[index - 1][seqAt])) {
      rows.sort((x, y) => Number(x[seqAt]) - Number(y[seqAt]));
      break;
    }
  }
  return rows;
}

/** A batch's encoded size stays under this, far below the 64 MiB message limit. */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

/**
 * The seq at which a page must end to stay under MAX_BATCH_BYTES, or undefined when it fits.
 * Sizes are over-estimated (3 bytes per UTF-16 unit, the UTF-8 worst case) so the cut is safe
 * without encoding anything twice.
 */
function byteBudgetCut(
  rows: readonly StoredValues[],
  seqAt: number,
  tombstones: readonly StoredRow[],
): number | undefined {
  // The common case (everything fits) allocates nothing per row: this runs for every page served.
  let total = tombstones.length * TOMBSTONE_BYTES;
  for (const row of rows) total += estimatedBytes(row);
  if (total <= MAX_BATCH_BYTES) return undefined;
  const sizes: { seq: number; bytes: number }[] = [];
  for (const row of rows) sizes.push({ seq: Number(row[seqAt]), bytes: estimatedBytes(row) });
  for (const row of tombstones) sizes.push({ seq: Number(row.seq), bytes: TOMBSTONE_BYTES });
  sizes.sort((a, b) => a.seq - b.seq);
  let used = 0;
  for (const [index, item] of sizes.entries()) {
    used += item.bytes;
    if (used > MAX_BATCH_BYTES) return sizes[Math.max(0, index - 1)].seq;
  }
  return undefined;
}

const TOMBSTONE_BYTES = 256;

function estimatedBytes(row: StoredValues): number {
  let bytes = 64;
  for (const value of row) bytes += typeof value === 'string' ? value.length * 3 : 10;
  return bytes;
}

/** Rows plus tombstones of a type with seq above `afterSeq`. */
export async function countAfter(sql: SqlRunner, name: ResourceName, afterSeq: number): Promise<number> {
  const [row] = await sql.query<{ n: number }>(
    `SELECT (SELECT count(*) FROM ${RESOURCE_TABLES[name].table} WHERE seq > ?1)
          + (SELECT count(*) FROM tombstones WHERE resource_type = ?2 AND seq > ?1) AS n`,
    [afterSeq, name],
  );
  return row.n;
}

export function clampBatchSize(requested: number): number {
  if (!requested || requested <= 0) return DEFAULT_BATCH_SIZE;
  return Math.min(Math.floor(requested), MAX_BATCH_SIZE);
}

/**
 * Serves one resource type from a cursor as an Observable of batches: pages of
 * `seq > cursor ORDER BY seq`, ending when caught up or, in follow mode, going on as commits
 * arrive (in-process notification, plus a poll for commits made by other processes).
 * At most one page is read ahead of what the consumer has taken.
 */
export function backfillResource$(
  library: Library,
  name: ResourceName,
  cursor: ResourceCursor,
  batchSize: number,
  options: BackfillOptions = {},
): Observable<StateBatch> {
  return new Observable<StateBatch>((subscriber) => {
    let stopped = false;
    let wake: (() => void) | undefined;
    const changes = library.changes$.subscribe(() => wake?.());
    const limit = clampBatchSize(batchSize);
    const epoch = library.identity.epoch;
    const resourceType = resourceTypeOf(name);

    // Resolves once the library's head passes `seenHead`, woken by `changes$` (in-process
    // commits at once, other processes' commits by its poll).
    const waitForCommit = async (seenHead: number) => {
      while (!stopped) {
        const woken = new Promise<void>((resolve) => (wake = resolve));
        // Armed before looking, so a commit landing in between still wakes us.
        if ((await library.headSeq()) > seenHead) return;
        await woken;
        wake = undefined;
      }
    };

    const run = async () => {
      // A cursor from another epoch belongs to a database that no longer exists, and a seq
      // without an epoch to no database we can name: restart from 0, never skip. Whenever that
      // discards a position (seq > 0, or any foreign epoch), say so, so the client does not take
      // the restart for its old position going on.
      const ours = cursor.epoch === epoch;
      const reset = !ours && (cursor.epoch !== '' || cursor.seq > 0);
      let seq = ours ? cursor.seq : 0;
      let remaining = await countAfter(library.db.read, name, seq);
      let firstBatch = true;
      let announcedCatchUp = options.quietCatchUp ?? false;
      while (!stopped) {
        const head = await library.headSeq();
        const page = await readPage(library.db.read, name, seq, limit);
        if (stopped) return;
        const sent = page.records.length + page.tombstones.length;
        remaining = page.caughtUp ? 0 : Math.max(remaining - sent, 1);
        const isNews = sent > 0 || (firstBatch && reset) || (page.caughtUp && !announcedCatchUp);
        if (isNews) {
          const checkpoint: Checkpoint = {
            resourceType,
            epoch,
            seq: page.lastSeq,
            hlc: page.lastHlc ? decodeHlc(page.lastHlc) : undefined,
          };
          subscriber.next({
            resourceType,
            records: page.records,
            tombstones: page.tombstones,
            checkpoint,
            remaining,
            reset: firstBatch && reset,
            caughtUp: page.caughtUp,
          });
          firstBatch = false;
          if (page.caughtUp) announcedCatchUp = true;
          if (options.backpressure) await options.backpressure();
        }
        seq = page.lastSeq;
        if (page.caughtUp) {
          if (!options.follow) break;
          await waitForCommit(head);
        }
      }
      if (!stopped) subscriber.complete();
    };
    run().catch((error: unknown) => subscriber.error(error));
    return () => {
      stopped = true;
      changes.unsubscribe();
      wake?.();
    };
  });
}
