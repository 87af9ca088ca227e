import { ResourceDigest } from '@tidemark/proto';
import { createHash } from 'node:crypto';
import { TidemarkError } from './errors';
import { resourceHead } from './heads';
import { ResourceName, resourceTypeOf } from './resource-types';
import type { DigestScanOptions } from './store/digest-thread';
import type { LibraryStore, SqlRunner } from './store/library-database';
import { RESOURCE_TABLES } from './store/resource-tables';

const PAGE = 5_000;
const LANES = 4;
const MASK = (1n << 64n) - 1n;

/**
 * Order-independent digest of one resource type: the lane-wise sum (mod 2^64) of
 * SHA-256("r|uuid|hlc|origin") over rows and SHA-256("t|uuid|hlc|origin") over tombstones.
 * A sum, unlike XOR, does not cancel a duplicated row. Local seqs are left out, so two libraries
 * holding the same versions have equal digests.
 */
export class DigestAccumulator {
  private readonly lanes = new Array<bigint>(LANES).fill(0n);
  rows = 0;
  tombstones = 0;

  add(kind: 'r' | 't', uuid: string, hlc: string, origin: string): void {
    const hash = createHash('sha256').update(`${kind}|${uuid}|${hlc}|${origin}`).digest();
    for (let lane = 0; lane < LANES; lane++) {
      this.lanes[lane] = (this.lanes[lane] + hash.readBigUInt64BE(lane * 8)) & MASK;
    }
    if (kind === 'r') this.rows++;
    else this.tombstones++;
  }

  get hash(): Buffer {
    const out = Buffer.alloc(LANES * 8);
    this.lanes.forEach((lane, index) => out.writeBigUInt64BE(lane, index * 8));
    return out;
  }
}

/** Digest of one resource type, read page by page (keyset on seq) so memory stays flat. */
export async function digestResource(
  sql: SqlRunner,
  name: ResourceName,
  options: { readonly excludeOrigins?: readonly string[]; readonly signal?: AbortSignal } = {},
): Promise<ResourceDigest> {
  const excluded = options.excludeOrigins ?? [];
  const originFilter = excluded.length ? `AND origin NOT IN (${excluded.map(() => '?').join(', ')})` : '';
  const accumulator = new DigestAccumulator();
  let head = 0;
  for (const [kind, from, filter] of [
    ['r', RESOURCE_TABLES[name].table, ''],
    ['t', 'tombstones', 'AND resource_type = ?'],
  ] as const) {
    let after = -1;
    for (;;) {
      // A caller that went away stops the scan at the next page, not after the last one.
      if (options.signal?.aborted) throw digestCancelled();
      const rows = await sql.query<{ uuid: string; hlc: string; origin: string; seq: number }>(
        `SELECT uuid, hlc, origin, seq FROM ${from} WHERE seq > ? ${filter} ${originFilter} ORDER BY seq LIMIT ${PAGE}`,
        filter ? [after, name, ...excluded] : [after, ...excluded],
      );
      for (const row of rows) accumulator.add(kind, row.uuid, row.hlc, row.origin);
      if (rows.length === 0) break;
      after = rows[rows.length - 1].seq;
      head = Math.max(head, after);
      if (rows.length < PAGE) break;
    }
  }
  if (excluded.length) head = (await resourceHead(sql, name)).seq; // the type's head, not the counted rows'
  return {
    resourceType: resourceTypeOf(name),
    rowCount: accumulator.rows,
    tombstoneCount: accumulator.tombstones,
    hash: accumulator.hash,
    seq: head,
  };
}

/**
 * One type's digest of a library's store: off the event loop where the store offers that
 * (SQLite), else on its read connection. Anti-entropy and the Digest call use this, so a digest
 * of a large library does not hold up the applies and follow batches of the same process.
 */
export function digestOfStore(
  store: LibraryStore,
  name: ResourceName,
  options: DigestScanOptions = {},
): Promise<ResourceDigest> {
  return store.digest ? store.digest(name, options) : digestResource(store.read, name, options);
}

function digestCancelled(): TidemarkError {
  return new TidemarkError('UNAVAILABLE', 'the digest was cancelled by its caller');
}

export function digestsEqual(a: ResourceDigest, b: ResourceDigest): boolean {
  return (
    a.rowCount === b.rowCount && a.tombstoneCount === b.tombstoneCount && Buffer.compare(a.hash, b.hash) === 0
  );
}
