import { OriginPrefix } from '@tidemark/proto';
import { RESOURCE_NAMES } from './resource-types';
import { SqlRunner } from './store/library-database';
import { RESOURCE_TABLES } from './store/resource-tables';

/**
 * A gap check spans at most this many seqs. Refusing a claim is always sound; a stream whose
 * requester claims far less of this lineage than its cursor (a gap stopped its claims earlier)
 * waits for the next `caught_up` claim instead of counting a large range on every resume.
 */
export const MAX_GAP_CHECK = 100_000;

/**
 * How many seqs in (after, upTo] hold a row or tombstone of any type, and the epoch of the
 * own-lineage marker, in one statement (one snapshot). Every seq ever issued went to exactly one
 * row or tombstone; a version replaced or deleted since leaves its seq empty for good.
 */
function occupancySql(): string {
  const rows = RESOURCE_NAMES.map(
    (name) => `(SELECT count(*) FROM ${RESOURCE_TABLES[name].table} WHERE seq > ?1 AND seq <= ?2)`,
  );
  // Per type, so each count is a range of the (resource_type, seq) index.
  const tombstones = RESOURCE_NAMES.map(
    (name) => `(SELECT count(*) FROM tombstones WHERE resource_type = '${name}' AND seq > ?1 AND seq <= ?2)`,
  );
  return `SELECT own_lineage_unordered_epoch AS unordered, ${[...rows, ...tombstones].join(' + ')} AS n
          FROM library_identity WHERE id = 1`;
}

const OCCUPANCY = occupancySql();

/**
 * What one served stream may claim of the server's own lineage before `caught_up`
 * (docs/architecture.md, "Own-lineage coverage before caught_up"). A page (c, L] covers the
 * lineage up to L when every version it wrote with origin seq <= L is held by the requester once
 * it applied the page: up to `known`, by a claim the requester holds (sent in its request, or
 * covered by a batch of this stream, applied before this one); in (known, L], because every
 * seq there is still occupied, so none of those versions moved beyond L, and a version at its
 * seq <= L went out in this page or an earlier one. Own versions sit at their origin seq only
 * while the marker does not name this epoch: rows adopted back after a restore do not.
 */
export class OwnLineageCoverage {
  /** The requester holds every version of this lineage with origin seq up to this. */
  private known: number;
  /** A gap was found in (known, gapBelow]: no claim can pass it until `known` does. */
  private gapBelow = 0;

  constructor(
    private readonly deviceId: string,
    private readonly epoch: string,
    /** The requester's claim on this lineage in its request (0 when none, or not trusted). */
    requested: number,
  ) {
    this.known = requested;
  }

  /** The prefix a page ending at `lastSeq` covers, read after the page; undefined when none. */
  async coverTo(sql: SqlRunner, lastSeq: number): Promise<OriginPrefix | undefined> {
    if (lastSeq <= this.known) return undefined;
    if (this.gapBelow > this.known) return undefined;
    if (lastSeq - this.known > MAX_GAP_CHECK) return undefined;
    const [row] = await sql.query<{ unordered: string; n: number }>(OCCUPANCY, [this.known, lastSeq]);
    if (row.unordered === this.epoch) return undefined;
    if (Number(row.n) !== lastSeq - this.known) {
      this.gapBelow = lastSeq;
      return undefined;
    }
    return { origin: this.deviceId, epoch: this.epoch, seq: lastSeq };
  }

  /** A batch covering this lineage up to `seq` was sent: the requester holds it before the next. */
  sent(seq: number): void {
    this.known = Math.max(this.known, seq);
  }
}

/**
 * Records that this database may now hold versions of its own lineage away from their origin
 * seqs (own rows adopted, or its history found changed under `epoch`); call inside a write
 * transaction.
 */
export async function markOwnLineageUnordered(sql: SqlRunner, epoch: string): Promise<void> {
  await sql.query('UPDATE library_identity SET own_lineage_unordered_epoch = ? WHERE id = 1', [epoch]);
}
