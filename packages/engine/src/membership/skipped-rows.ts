import { Library } from '../library';
import { ReadScope, runnerOf } from '../reads/scope';
import { ResourceName } from '../resource-types';
import { SqlRunner } from '../store/library-database';

/** Why apply left rows of a peer's batch out without rejecting it. */
export type SkipReason =
  /** Written by a removed member at or after its removal (or by a device admitted by a void ADD). */
  | 'after_removal'
  /** Rows of this device's own identity that it does not hold at that version. */
  | 'own_identity';

/** Rows skipped from one peer, written by one device, of one type, for one reason. */
export interface SkippedRows {
  /** The peer that sent them (a relay, or the writer itself). */
  readonly peerDeviceId: string;
  /**
   * The device that wrote them (their origin): this device for `own_identity`; the removed
   * member for `after_removal`, or '' for rows counted before origins were recorded.
   */
  readonly originDeviceId: string;
  readonly resourceType: ResourceName;
  readonly reason: SkipReason;
  readonly rows: number;
  readonly lastAtMs: number;
}

/** One peer's batch: what it skipped, by reason and then by origin. */
export interface SkippedInBatch {
  readonly afterRemoval: ReadonlyMap<string, number>;
  readonly ownIdentity: ReadonlyMap<string, number>;
}

/** Counts rows an apply skipped, in its transaction (so a rolled-back apply counts nothing). */
export async function recordSkippedRows(
  sql: SqlRunner,
  peerDeviceId: string,
  name: ResourceName,
  skipped: SkippedInBatch,
): Promise<void> {
  for (const [reason, byOrigin] of [
    ['after_removal', skipped.afterRemoval],
    ['own_identity', skipped.ownIdentity],
  ] as const) {
    for (const [origin, rows] of byOrigin) {
      if (rows === 0) continue;
      await sql.query(
        `INSERT INTO skipped_rows (peer_device_id, origin_device_id, resource_type, reason, rows, last_at_ms)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (peer_device_id, origin_device_id, resource_type, reason)
         DO UPDATE SET rows = skipped_rows.rows + excluded.rows, last_at_ms = excluded.last_at_ms`,
        [peerDeviceId, origin, name, reason, rows, Date.now()],
      );
    }
  }
}

/** What apply has skipped so far, per peer, origin, type and reason (for `tidemark doctor`). */
export async function readSkippedRows(scope: ReadScope): Promise<SkippedRows[]> {
  const rows = await (
    await runnerOf(scope)
  ).query<{
    peer_device_id: string;
    origin_device_id: string;
    resource_type: ResourceName;
    reason: SkipReason;
    rows: number;
    last_at_ms: number;
  }>('SELECT * FROM skipped_rows ORDER BY reason, peer_device_id, origin_device_id, resource_type');
  return rows.map((row) => ({
    peerDeviceId: row.peer_device_id,
    originDeviceId: row.origin_device_id,
    resourceType: row.resource_type,
    reason: row.reason,
    rows: row.rows,
    lastAtMs: row.last_at_ms,
  }));
}

/**
 * Forgets the rows in this device's own name that a peer sent and this device did not take, for
 * the given types: once a type is equal to that peer's (`tidemark repair`, with `--adopt-own`
 * after a restore), nothing of what that peer sent in this device's name is missing any more.
 * Returns how many rows the forgotten counts held.
 */
export async function forgetSkippedOwnRows(
  library: Library,
  peerDeviceId: string,
  names: readonly ResourceName[],
): Promise<number> {
  if (names.length === 0) return 0;
  return library.db.writeTransaction(async (sql) => {
    const marks = names.map(() => '?').join(', ');
    const where = `peer_device_id = ? AND reason = 'own_identity' AND resource_type IN (${marks})`;
    const [{ rows }] = await sql.query<{ rows: number | null }>(
      `SELECT SUM(rows) AS rows FROM skipped_rows WHERE ${where}`,
      [peerDeviceId, ...names],
    );
    await sql.query(`DELETE FROM skipped_rows WHERE ${where}`, [peerDeviceId, ...names]);
    return rows ?? 0;
  });
}
