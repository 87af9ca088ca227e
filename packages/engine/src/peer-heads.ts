import { ResourceHead } from '@tidemark/proto';
import { encodeHlc } from './hlc';
import { ResourceName, resourceNameOf } from './resource-types';
import { SqlRunner } from './store/library-database';

/** A peer's head of one resource type as last seen, for lag while offline. */
export interface PeerHead {
  readonly peerDeviceId: string;
  readonly resourceType: ResourceName;
  readonly headSeq: number;
  readonly rowCount: number;
  readonly tombstoneCount: number;
  readonly maxHlc: string | undefined;
  readonly seenAtMs: number;
}

interface PeerHeadRow {
  peer_device_id: string;
  resource_type: ResourceName;
  head_seq: number;
  row_count: number;
  tombstone_count: number;
  max_hlc: string | null;
  seen_at_ms: number;
}

/** The `peer_heads` table: what each peer said it held at the last handshake. */
export class PeerHeadStore {
  constructor(private readonly sql: SqlRunner) {}

  async record(peerDeviceId: string, heads: readonly ResourceHead[], nowMs: number): Promise<void> {
    for (const head of heads) {
      let name: ResourceName;
      try {
        name = resourceNameOf(head.resourceType);
      } catch {
        continue; // a newer peer may know types this version does not
      }
      await this.sql.query(
        `INSERT INTO peer_heads (peer_device_id, resource_type, head_seq, row_count, tombstone_count, max_hlc, seen_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (peer_device_id, resource_type) DO UPDATE SET head_seq = excluded.head_seq,
           row_count = excluded.row_count, tombstone_count = excluded.tombstone_count,
           max_hlc = excluded.max_hlc, seen_at_ms = excluded.seen_at_ms`,
        [
          peerDeviceId,
          name,
          head.seq,
          head.rowCount,
          head.tombstoneCount,
          head.maxHlc ? encodeHlc(head.maxHlc) : null,
          nowMs,
        ],
      );
    }
  }

  /** A batch proved the peer's head is at least `seq` (it moves on while we follow). */
  async raise(peerDeviceId: string, name: ResourceName, seq: number): Promise<void> {
    await this.sql.query(
      `UPDATE peer_heads SET head_seq = ${this.sql.dialect.greatest('head_seq', '?')}
       WHERE peer_device_id = ? AND resource_type = ?`,
      [seq, peerDeviceId, name],
    );
  }

  async all(): Promise<PeerHead[]> {
    const rows = await this.sql.query<PeerHeadRow>(
      'SELECT * FROM peer_heads ORDER BY peer_device_id, resource_type',
    );
    return rows.map((row) => ({
      peerDeviceId: row.peer_device_id,
      resourceType: row.resource_type,
      headSeq: row.head_seq,
      rowCount: row.row_count,
      tombstoneCount: row.tombstone_count,
      maxHlc: row.max_hlc ?? undefined,
      seenAtMs: row.seen_at_ms,
    }));
  }
}
