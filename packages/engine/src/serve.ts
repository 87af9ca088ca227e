import { Checkpoint, OriginPrefix, Record as WireRecord, StateBatch, Tombstone } from '@tidemark/proto';
import { Observable } from 'rxjs';
import { timeCommitIdWork } from './commit-id-cost';
import { commitAt } from './commits';
import { decodeHlc } from './hlc';
import { Library } from './library';
import { lineageKey, OriginPrefixStore, toWire } from './origin-prefixes';
import { markOwnLineageUnordered, OwnLineageCoverage } from './own-lineage-coverage';
import { recordFromValues, tombstoneFromRow, wrapRecord } from './records';
import { RelayHoldBack } from './relay-hold-back';
import { ResourceName, resourceTypeOf } from './resource-types';
import { estimatedPageBytes, once, SharedPage, sharedPageKey, sharedPageReadsOf } from './shared-pages';
import { SqlRunner } from './store/library-database';
import { columnsOf, RESOURCE_TABLES, StoredRow, StoredValues } from './store/resource-tables';

export const DEFAULT_BATCH_SIZE = 1_000;
export const MAX_BATCH_SIZE = 10_000;

/** A cursor on one resource type of the serving database. */
export interface ResourceCursor {
  /** Epoch of the database the seq belongs to; '' when the client has none yet. */
  readonly epoch: string;
  readonly seq: number;
  /** Commit id of the checkpoint `seq` came from; '' when the client has none. */
  readonly commitId?: string;
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
  /**
   * What the requester holds of this type (`Cursor.held`): rows and tombstones of a listed
   * lineage at or below its seq are left out (docs/architecture.md, "Origin-aware serving").
   */
  readonly held?: readonly OriginPrefix[];
  /**
   * With `held` given: rows taken from other devices less than this many ms ago wait that long
   * (RelayHoldBack); 0 or absent serves them at once. Set for follow requests only (both their
   * parts), never for a backfill pull, which must reach `caught_up` for its claims.
   */
  readonly relayHoldMs?: number;
}

/** Lineage id -> the highest origin seq the requester holds of it. */
export type HeldByLineage = ReadonlyMap<number, number>;

/** One page of a resource type: rows and tombstones with seq in (afterSeq, lastSeq]. */
export interface ResourcePage {
  readonly records: WireRecord[];
  readonly tombstones: Tombstone[];
  /** Highest seq in the page; `afterSeq` when the page is empty. */
  readonly lastSeq: number;
  readonly lastHlc: string | undefined;
  /** True when the page holds fewer items than asked: the type is caught up. */
  readonly caughtUp: boolean;
  /** Per record, in order: [origin seq, origin lineage id] (0 when unknown). */
  readonly recordOrigins: readonly (readonly [number, number])[];
  /** Per tombstone, in order: [origin seq, origin lineage id]. */
  readonly tombstoneOrigins: readonly (readonly [number, number])[];
  /** Rows and tombstones in the page's range left out because the requester holds them. */
  readonly heldSkipped: number;
}

/**
 * The SQL condition that keeps a row the requester does not hold: its origin seq above what it
 * holds of the row's lineage. Unknown lineages (0) and unlisted ones compare with -1, so they are
 * always kept. The values are integers from this database and validated requests, inlined so the
 * statement's parameters stay positional.
 */
export function keepCondition(held: HeldByLineage | undefined): string {
  if (!held || held.size === 0) return '1 = 1';
  const cases = [...held].map(([lineage, seq]) => `WHEN ${Math.trunc(lineage)} THEN ${Math.trunc(seq)}`);
  return `origin_seq > CASE origin_lineage ${cases.join(' ')} ELSE -1 END`;
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
  held?: HeldByLineage,
  /** The page ends at this seq at most (a held-back row above it); a page that reaches it is caught up. */
  upTo = Number.MAX_SAFE_INTEGER,
): Promise<ResourcePage> {
  const table = RESOURCE_TABLES[name];
  // One more than the limit tells "more to come" from "this page ends the type" without a count,
  // so an exactly full last page is already marked caught up. The probe answers in one row (how
  // many, the last, the limit-th) rather than returning its up to limit + 1 seqs: node-sqlite3
  // builds an object per returned row (docs/architecture.md, "Performance").
  const [probe] = await sql.query<{ n: number; last: number | null; at_limit: number | null }>(
    `WITH firsts AS MATERIALIZED (
       SELECT seq FROM (
         SELECT seq FROM (SELECT seq FROM ${table.table} WHERE seq > ?1 AND seq <= ?5 ORDER BY seq LIMIT ?2) AS live
         UNION ALL
         SELECT seq FROM (SELECT seq FROM tombstones WHERE resource_type = ?3 AND seq > ?1 AND seq <= ?5 ORDER BY seq LIMIT ?2) AS dead
       ) AS both_kinds
       ORDER BY seq LIMIT ?2)
     SELECT (SELECT count(*) FROM firsts) AS n, (SELECT max(seq) FROM firsts) AS last,
            (SELECT seq FROM firsts ORDER BY seq LIMIT 1 OFFSET ?4) AS at_limit`,
    [afterSeq, limit + 1, name, limit - 1, upTo],
  );
  if (probe.n === 0)
    return {
      records: [],
      tombstones: [],
      lastSeq: afterSeq,
      lastHlc: undefined,
      caughtUp: true,
      recordOrigins: [],
      tombstoneOrigins: [],
      heldSkipped: 0,
    };
  let caughtUp = probe.n <= limit;
  let upper = Number(caughtUp ? probe.last : probe.at_limit);
  const columns = columnsOf(table);
  const seqAt = columns.indexOf('seq');
  const hlcAt = columns.indexOf('hlc');
  const originSeqAt = columns.indexOf('origin_seq');
  const lineageAt = columns.indexOf('origin_lineage');
  const keep = keepCondition(held);
  let rows = await readRows(sql, table.table, columns, seqAt, afterSeq, upper, keep);
  let tombstones = await sql.query<StoredRow>(
    `SELECT uuid, hlc, origin, seq, origin_seq, origin_lineage FROM tombstones
     WHERE resource_type = ? AND seq > ? AND seq <= ? AND ${keep} ORDER BY seq`,
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
  if (caughtUp) {
    // The probe, the rows and the tombstones are read one statement at a time, each on its own
    // snapshot: a version replaced after the probe left its seq (so it is not in the rows read)
    // for one above the page. The page then holds neither, and may not be caught up (a caught-up
    // page covers every lineage the server claims, and its own up to the head).
    const [moved] = await sql.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM (SELECT seq FROM ${table.table} WHERE seq > ?1 AND seq <= ?3 LIMIT 1) AS live)
            + (SELECT count(*) FROM (SELECT seq FROM tombstones WHERE resource_type = ?2 AND seq > ?1 AND seq <= ?3 LIMIT 1) AS dead) AS n`,
      [upper, name, upTo],
    );
    if (Number(moved.n) > 0) caughtUp = false;
  }
  const lastRow = rows[rows.length - 1];
  const lastTombstone = tombstones[tombstones.length - 1];
  const lastHlc =
    lastTombstone && (!lastRow || Number(lastTombstone.seq) > Number(lastRow[seqAt]))
      ? lastTombstone.hlc
      : lastRow?.[hlcAt];
  let heldSkipped = 0;
  if (held && held.size > 0) {
    // What the filter left out of (afterSeq, upper], counted as such, not as all minus what was
    // read: this statement sees a later snapshot than the reads, and a row that a commit in
    // between moved beyond the bound would make the difference negative (an invalid uint64 on
    // the wire, and the stream would fail). A held row that moved is not counted; it comes
    // again at its new seq.
    const [skipped] = await sql.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM ${table.table} WHERE seq > ?1 AND seq <= ?2 AND NOT (${keep}))
            + (SELECT count(*) FROM tombstones WHERE resource_type = ?3 AND seq > ?1 AND seq <= ?2 AND NOT (${keep})) AS n`,
      [afterSeq, upper, name],
    );
    heldSkipped = Number(skipped.n);
  }
  return {
    records: rows.map((row) => wrapRecord(name, recordFromValues(name, row))),
    tombstones: tombstones.map((row) => tombstoneFromRow(name, row)),
    lastSeq: upper,
    lastHlc: lastHlc === undefined || lastHlc === null ? undefined : String(lastHlc),
    caughtUp,
    recordOrigins: rows.map((row) => [Number(row[originSeqAt]), Number(row[lineageAt])] as const),
    tombstoneOrigins: tombstones.map((row) => [Number(row.origin_seq), Number(row.origin_lineage)] as const),
    heldSkipped,
  };
}

/**
 * Rows with seq in (afterSeq, upper], in seq order, as value arrays in `columns` order. They
 * come back as ONE JSON text built by SQLite rather than as a result set: node-sqlite3 makes
 * every column of every row a JS value through N-API on the event loop, which costs several
 * times one JSON.parse, and serving a backfill is mostly this read. The arrays are used as they
 * are parsed, with no keyed object per row (docs/architecture.md, "Performance", has the
 * figures). Like node-sqlite3, json_array ends a string at a NUL; validate.ts refuses NUL in
 * every string field. PostgreSQL returns plain rows as arrays instead, which costs less there.
 */
async function readRows(
  sql: SqlRunner,
  tableName: string,
  columns: readonly string[],
  seqAt: number,
  afterSeq: number,
  upper: number,
  keep: string,
): Promise<StoredValues[]> {
  const from = `${tableName} WHERE seq > ? AND seq <= ? AND ${keep}`;
  if (sql.queryArrays) {
    // PostgreSQL: plain rows as arrays (store/library-database.ts, `queryArrays`).
    return (await sql.queryArrays(`SELECT ${columns.join(', ')} FROM ${from} ORDER BY seq`, [
      afterSeq,
      upper,
    ])) as StoredValues[];
  }
  const [page] = await sql.query<{ rows: string }>(sql.dialect.rowsAsJson(columns, from, 'seq'), [
    afterSeq,
    upper,
  ]);
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

/**
 * The requester's held prefixes as this database's lineage ids. A lineage this database has no
 * row of yet filters nothing until one arrives; it is looked up again before each page.
 */
class HeldFilter {
  private readonly resolved = new Map<number, number>();
  private unresolved: OriginPrefix[];

  constructor(
    private readonly library: Library,
    held: readonly OriginPrefix[],
  ) {
    this.unresolved = [...held];
  }

  async byLineage(): Promise<HeldByLineage> {
    if (this.unresolved.length === 0) return this.resolved;
    const ids = await this.library.lineages.idsOf(this.unresolved);
    const still: OriginPrefix[] = [];
    for (const prefix of this.unresolved) {
      const id = ids.get(lineageKey(prefix.origin, prefix.epoch));
      if (id === undefined) still.push(prefix);
      else this.resolved.set(id, Math.max(this.resolved.get(id) ?? 0, prefix.seq));
    }
    this.unresolved = still;
    return this.resolved;
  }
}

/** A page's origin seqs and epochs as `StateBatch` carries them: one per record, epochs by index. */
async function originsOnWire(
  library: Library,
  page: ResourcePage,
): Promise<Pick<StateBatch, 'recordOriginSeqs' | 'recordOriginEpochs' | 'originEpochs'>> {
  const lineages = await library.lineages.lineagesOf([
    ...page.recordOrigins.map(([, lineage]) => lineage),
    ...page.tombstoneOrigins.map(([, lineage]) => lineage),
  ]);
  const originEpochs: string[] = [];
  const indexOf = new Map<number, number>();
  const epochRef = (lineage: number): number => {
    const known = lineages.get(lineage);
    if (!known) return 0;
    let index = indexOf.get(lineage);
    if (index === undefined) {
      index = originEpochs.indexOf(known.epoch);
      if (index < 0) index = originEpochs.push(known.epoch) - 1;
      indexOf.set(lineage, index);
    }
    return index + 1;
  };
  const recordOriginSeqs: number[] = [];
  const recordOriginEpochs: number[] = [];
  for (const [originSeq, lineage] of page.recordOrigins) {
    const ref = epochRef(lineage);
    recordOriginSeqs.push(ref === 0 ? 0 : originSeq);
    recordOriginEpochs.push(ref);
  }
  page.tombstoneOrigins.forEach(([originSeq, lineage], index) => {
    const known = lineages.get(lineage);
    if (!known) return;
    const tombstone = page.tombstones[index] as { originSeq: number; originEpoch: string };
    tombstone.originSeq = originSeq;
    tombstone.originEpoch = known.epoch;
  });
  return { recordOriginSeqs, recordOriginEpochs, originEpochs };
}

/**
 * The page after `afterSeq` and what is read with it, read once for every stream that asks for
 * the same page after the same or an earlier head (shared-pages.ts).
 */
function readSharedPage(
  library: Library,
  name: ResourceName,
  afterSeq: number,
  limit: number,
  held: HeldByLineage,
  head: number,
  /** The hold-back bound (RelayHoldBack): part of the key, since it changes the page. */
  upTo?: number,
): Promise<SharedPage> {
  // A copy: the stream's filter may resolve more lineages while others still use this read.
  const filter = new Map(held);
  const unbounded = sharedPageKey(name, library.identity.epoch, afterSeq, limit, filter);
  const key = upTo === undefined ? unbounded : `${unbounded} upTo ${upTo}`;
  const load = async (): Promise<SharedPage> => {
    const sql = library.db.read;
    const covered = await new OriginPrefixStore(sql).forType(name);
    const page = await readPage(sql, name, afterSeq, limit, filter, upTo);
    return {
      covered,
      page,
      commitId: once(() =>
        timeCommitIdWork('checkpoint', async () => (await commitAt(sql, page.lastSeq)) ?? ''),
      ),
      origins: once(() => originsOnWire(library, page)),
    };
  };
  return sharedPageReadsOf(library).read(key, head, load, estimatedPageBytes);
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
 * Whether a cursor of this epoch was taken on this database's history. A database copied back
 * from a backup keeps its epoch and reuses the seqs above the backup for new rows: a cursor past
 * everything committed, or one whose commit id is not the one that issued its seq here, was
 * taken on the lost history, and resuming it would skip the new rows below it.
 */
async function sameHistory(library: Library, cursor: ResourceCursor): Promise<boolean> {
  if (cursor.seq <= 0) return true;
  if (cursor.seq > (await library.headSeq())) return false;
  if (!cursor.commitId) return true;
  return (await commitAt(library.db.read, cursor.seq)) === cursor.commitId;
}

/**
 * Serves one resource type from a cursor as an Observable of batches: pages of
 * `seq > cursor ORDER BY seq`, ending when caught up or, in follow mode, going on as commits
 * arrive (`Library.changes$`: commits of this process at once, other processes' by a file-system
 * notification, or the fallback poll).
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
    const closing = new AbortController();
    let wake: (() => void) | undefined;
    // The highest head known to this stream: read once when it starts, then as `changes$`
    // reports it. Every commit made after the subscription is reported, by this process at once
    // or by the commit watch, with a head at least its own seq, and only once it is visible to
    // the reader connection.
    let reported = 0;
    // Only commits that wrote this type wake it (in PostgreSQL across processes too).
    const changes = library.changesOf$(name).subscribe((head) => {
      if (head > reported) reported = head;
      wake?.();
    });
    const limit = clampBatchSize(batchSize);
    const epoch = library.identity.epoch;
    const resourceType = resourceTypeOf(name);

    // Waits until `changes$` reports a head above `seenHead`, the value `reported` had before
    // the page that found nothing more was read. A commit that page missed was not yet visible,
    // so it had not been reported: its report comes later and is above `seenHead`, whether it
    // arrives while the page is read (then this returns at once, and the page is read again) or
    // while this waits. No read of the head per wake-up: with a stream per resource type, that
    // was two queries per type on every commit.
    const waitForCommit = async (seenHead: number) => {
      while (!stopped && reported <= seenHead) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    };

    const run = async () => {
      // A cursor from another epoch belongs to a database that no longer exists, and a seq
      // without an epoch to no database we can name: restart from 0, never skip. Whenever that
      // discards a position (seq > 0, or any foreign epoch), say so, so the client does not take
      // the restart for its old position going on.
      const ours =
        cursor.epoch === epoch && (await timeCommitIdWork('resume', () => sameHistory(library, cursor)));
      const reset = !ours && (cursor.epoch !== '' || cursor.seq > 0);
      let seq = ours ? cursor.seq : 0;
      let remaining = await countAfter(library.db.read, name, seq);
      let firstBatch = true;
      let announcedCatchUp = options.quietCatchUp ?? false;
      // A cursor of this epoch from a history this database no longer has (it was restored with
      // the history mark, docs/architecture.md "Restored libraries"): what the requester claims of
      // this device's lineage in this epoch may be of the lost history, whose origin seqs the new
      // one reuses. Serve every row of it.
      const historyChanged = !ours && cursor.epoch === epoch;
      const ownLineage = (prefix: OriginPrefix) =>
        prefix.origin === library.identity.deviceId && prefix.epoch === epoch;
      const trusted = (options.held ?? []).filter((prefix) => !(historyChanged && ownLineage(prefix)));
      const held = new HeldFilter(library, trusted);
      // This database's versions of its lineage in this epoch may now sit away from their origin
      // seqs (the lost history's, held by peers, reuse them): no own-lineage claim before
      // caught_up in this epoch from now on (docs/architecture.md, "Own-lineage coverage").
      if (historyChanged) await library.db.writeTransaction((sql) => markOwnLineageUnordered(sql, epoch));
      const ownCoverage = new OwnLineageCoverage(
        library.identity.deviceId,
        epoch,
        Math.max(0, ...trusted.filter(ownLineage).map((prefix) => prefix.seq)),
      );
      // A requester that sends no claims (a v1 client) would never ask again without the rows.
      const holdMs = options.relayHoldMs ?? 0;
      const holdBack =
        holdMs > 0 && (options.held?.length ?? 0) > 0
          ? await RelayHoldBack.start(library, holdMs)
          : undefined;
      // Commits before this stream subscribed are never reported to it: start from the head.
      reported = Math.max(reported, await library.headSeq());
      while (!stopped) {
        // `head` and `covered` (read with the page, before it) are both taken BEFORE the page:
        // what they claim was held then, so it is held when the page is read, and a caught-up
        // page hands all of it over (docs/architecture.md, "Origin-aware serving", points 1 and
        // 2). `reported` is a head that was visible, at most the head of the moment: every seq
        // up to it has committed. Streams asking for the same page share its read.
        const head = reported;
        const byLineage = await held.byLineage();
        // A page stops below a held-back row; it is not caught up then, so it covers nothing.
        const upTo = await holdBack?.upTo(library.db.read, name, seq, keepCondition(byLineage));
        const shared = await readSharedPage(library, name, seq, limit, byLineage, head, upTo);
        if (stopped) return;
        const { covered, page: read } = shared;
        const page = upTo === undefined ? read : { ...read, caughtUp: false };
        const sent = page.records.length + page.tombstones.length;
        remaining = page.caughtUp ? 0 : Math.max(remaining - sent - page.heldSkipped, 1);
        const isNews =
          sent > 0 || page.heldSkipped > 0 || (firstBatch && reset) || (page.caughtUp && !announcedCatchUp);
        if (isNews) {
          // Before caught_up, a page covers at most this device's own lineage, checked after the
          // page was read (OwnLineageCoverage).
          const own = page.caughtUp
            ? { origin: library.identity.deviceId, epoch, seq: head }
            : await ownCoverage.coverTo(library.db.read, page.lastSeq);
          const checkpoint: Checkpoint = {
            resourceType,
            epoch,
            seq: page.lastSeq,
            hlc: page.lastHlc ? decodeHlc(page.lastHlc) : undefined,
            covered: [...(page.caughtUp ? toWire(covered) : []), ...(own ? [own] : [])],
            commitId: await shared.commitId(),
          };
          const origins = await shared.origins();
          subscriber.next({
            resourceType,
            records: page.records,
            tombstones: page.tombstones,
            checkpoint,
            remaining,
            reset: firstBatch && reset,
            caughtUp: page.caughtUp,
            ...origins,
            heldSkipped: page.heldSkipped,
          });
          firstBatch = false;
          if (own) ownCoverage.sent(own.seq);
          if (page.caughtUp) announcedCatchUp = true;
          if (options.backpressure) await options.backpressure();
        }
        seq = page.lastSeq;
        if (read.caughtUp && upTo !== undefined) await holdBack!.untilServable(closing.signal);
        else if (page.caughtUp) {
          if (!options.follow) break;
          await waitForCommit(head);
        }
      }
      if (!stopped) subscriber.complete();
    };
    run().catch((error: unknown) => subscriber.error(error));
    return () => {
      stopped = true;
      closing.abort();
      changes.unsubscribe();
      wake?.();
    };
  });
}
