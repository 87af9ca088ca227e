import { ReadScope, runnerOf } from '../reads/scope';
import { ResourceName } from '../resource-types';
import { SqlRunner } from '../store/library-database';

/** Why apply left rows of a peer's batch out without rejecting it. */
export type SkipReason =
  /** Written by a removed member at or after its removal (or by a device admitted by a void ADD). */
  | 'after_removal'
  /** Rows of this device's own identity that it does not hold at that version. */
  | 'own_identity';

/** Rows skipped from one peer, of one type, for one reason, since the library was made. */
export interface SkippedRows {
  readonly peerDeviceId: string;
  readonly resourceType: ResourceName;
  readonly reason: SkipReason;
  readonly rows: number;
  readonly lastAtMs: number;
}

/** Counts rows an apply skipped, in its transaction (so a rolled-back apply counts nothing). */
export async function recordSkippedRows(
  sql: SqlRunner,
  peerDeviceId: string,
  name: ResourceName,
  counts: { readonly afterRemoval: number; readonly ownIdentity: number },
): Promise<void> {
  for (const [reason, rows] of [
    ['after_removal', counts.afterRemoval],
    ['own_identity', counts.ownIdentity],
  ] as const) {
    if (rows === 0) continue;
    await sql.query(
      `INSERT INTO skipped_rows (peer_device_id, resource_type, reason, rows, last_at_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (peer_device_id, resource_type, reason) DO UPDATE SET rows = rows + excluded.rows, last_at_ms = excluded.last_at_ms`,
      [peerDeviceId, name, reason, rows, Date.now()],
    );
  }
}

/** What apply has skipped so far, per peer, type and reason (for `tidemark doctor`). */
export async function readSkippedRows(scope: ReadScope): Promise<SkippedRows[]> {
  const rows = await (
    await runnerOf(scope)
  ).query<{
    peer_device_id: string;
    resource_type: ResourceName;
    reason: SkipReason;
    rows: number;
    last_at_ms: number;
  }>('SELECT * FROM skipped_rows ORDER BY peer_device_id, resource_type, reason');
  return rows.map((row) => ({
    peerDeviceId: row.peer_device_id,
    resourceType: row.resource_type,
    reason: row.reason,
    rows: row.rows,
    lastAtMs: row.last_at_ms,
  }));
}
