import type { Library } from './library';
import { RESOURCE_NAMES, ResourceName } from './resource-types';
import { SqlRunner } from './store/library-database';
import { OriginPrefixStore } from './origin-prefixes';

/** How far this device has applied one resource type of one peer. */
export interface ResourceWatermark {
  readonly peerDeviceId: string;
  readonly resourceType: ResourceName;
  /** Epoch of the peer database `lastSeq` belongs to; '' before the first batch. */
  readonly peerEpoch: string;
  /** The peer's seq of the last applied batch: the next request asks for `seq > lastSeq`. */
  readonly lastSeq: number;
  /** Commit id of the checkpoint `lastSeq` came from, sent back on resume; '' when unknown. */
  readonly peerCommit: string;
  /** Encoded HLC of the last applied row: for people and lag metrics, never a cursor. */
  readonly lastHlc: string | undefined;
  readonly updatedAtMs: number;
}

interface WatermarkRow {
  peer_device_id: string;
  resource_type: ResourceName;
  peer_epoch: string;
  last_seq: number;
  peer_commit: string;
  last_hlc: string | null;
  updated_at_ms: number;
}

function fromRow(row: WatermarkRow): ResourceWatermark {
  return {
    peerDeviceId: row.peer_device_id,
    resourceType: row.resource_type,
    peerEpoch: row.peer_epoch,
    lastSeq: row.last_seq,
    peerCommit: row.peer_commit,
    lastHlc: row.last_hlc ?? undefined,
    updatedAtMs: row.updated_at_ms,
  };
}

/**
 * The `resource_watermarks` table: one cursor per (peer device, resource type). No watermark ever
 * stands for more than one resource type: the legacy design's one cursor per peer skipped, on a
 * resumed backfill, every row of one type older than the last row of another (the global-watermark
 * bug).
 */
export class ResourceWatermarkStore {
  constructor(private readonly sql: SqlRunner) {}

  async get(peerDeviceId: string, name: ResourceName): Promise<ResourceWatermark | undefined> {
    const [row] = await this.sql.query<WatermarkRow>(
      'SELECT * FROM resource_watermarks WHERE peer_device_id = ? AND resource_type = ?',
      [peerDeviceId, name],
    );
    return row ? fromRow(row) : undefined;
  }

  async forPeer(peerDeviceId: string): Promise<Map<ResourceName, ResourceWatermark>> {
    const rows = await this.sql.query<WatermarkRow>(
      'SELECT * FROM resource_watermarks WHERE peer_device_id = ?',
      [peerDeviceId],
    );
    return new Map(rows.map((row) => [row.resource_type, fromRow(row)]));
  }

  async all(): Promise<ResourceWatermark[]> {
    const rows = await this.sql.query<WatermarkRow>(
      'SELECT * FROM resource_watermarks ORDER BY peer_device_id',
    );
    // Per peer in dependency order, the order types are synced in.
    const rank = (name: ResourceName) => RESOURCE_NAMES.indexOf(name);
    return rows
      .map(fromRow)
      .sort(
        (a, b) => a.peerDeviceId.localeCompare(b.peerDeviceId) || rank(a.resourceType) - rank(b.resourceType),
      );
  }

  /** Moves a watermark; call inside the transaction that applied the batch. */
  async advance(
    peerDeviceId: string,
    name: ResourceName,
    position: { readonly peerEpoch: string; readonly lastSeq: number; readonly peerCommit: string },
    lastHlc: string | undefined,
    nowMs: number,
  ): Promise<void> {
    await this.sql.query(
      `INSERT INTO resource_watermarks
         (peer_device_id, resource_type, peer_epoch, last_seq, peer_commit, last_hlc, updated_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (peer_device_id, resource_type) DO UPDATE SET
         peer_epoch = excluded.peer_epoch, last_seq = excluded.last_seq, peer_commit = excluded.peer_commit,
         last_hlc = coalesce(excluded.last_hlc, resource_watermarks.last_hlc), updated_at_ms = excluded.updated_at_ms`,
      [peerDeviceId, name, position.peerEpoch, position.lastSeq, position.peerCommit, lastHlc ?? null, nowMs],
    );
  }

  /** Restarts one type of one peer from 0 (repair: its digest differs from the peer's). */
  async resetType(peerDeviceId: string, name: ResourceName, nowMs: number): Promise<void> {
    await this.sql.query(
      "UPDATE resource_watermarks SET last_seq = 0, peer_commit = '', updated_at_ms = ? WHERE peer_device_id = ? AND resource_type = ?",
      [nowMs, peerDeviceId, name],
    );
  }

  /**
   * Restarts one type from 0 for every peer but `except`, each in its own epoch: a claim was
   * forgotten, and their streams may have left out rows on its strength below their cursors.
   */
  async rewindOthers(except: string, name: ResourceName, nowMs: number): Promise<void> {
    await this.sql.query(
      "UPDATE resource_watermarks SET last_seq = 0, peer_commit = '', updated_at_ms = ? WHERE peer_device_id != ? AND resource_type = ?",
      [nowMs, except, name],
    );
  }

  /**
   * The peer's database was recreated or restored (its epoch changed): every type of that peer
   * restarts from 0. Rows already held stay; idempotent apply skips the unchanged ones.
   */
  async resetPeer(peerDeviceId: string, peerEpoch: string, nowMs: number): Promise<void> {
    for (const name of RESOURCE_NAMES) {
      await this.sql.query(
        `INSERT INTO resource_watermarks (peer_device_id, resource_type, peer_epoch, last_seq, last_hlc, updated_at_ms)
         VALUES (?, ?, ?, 0, NULL, ?)
         ON CONFLICT (peer_device_id, resource_type) DO UPDATE SET
           peer_epoch = excluded.peer_epoch, last_seq = 0, peer_commit = '', updated_at_ms = excluded.updated_at_ms`,
        [peerDeviceId, name, peerEpoch, nowMs],
      );
    }
  }
}

/**
 * Restarts the given types of one peer from 0 in one transaction: the next sync pulls them
 * whole (repair, when a type's digest differs from the peer's). Idempotent apply makes that
 * cost transfer, not writes, for the rows already right. What this device holds of those types
 * (its origin prefixes) is forgotten too: a differing digest means something held is not what
 * it should be, so no row of them is left out of the repair.
 */
export async function resetWatermarks(
  library: Library,
  peerDeviceId: string,
  names: readonly ResourceName[],
): Promise<void> {
  await library.db.writeTransaction(async (sql) => {
    const store = new ResourceWatermarkStore(sql);
    for (const name of names) await store.resetType(peerDeviceId, name, Date.now());
    await new OriginPrefixStore(sql).clear(names);
  });
}
