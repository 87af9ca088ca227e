import type { TypeComparison } from './compare-with-peer';
import type { Library } from './library';
import { ResourceName } from './resource-types';
import { SqlRunner } from './store/library-database';

/** The newest anti-entropy comparison of one type with one peer. */
export interface DigestCheck {
  readonly peerDeviceId: string;
  readonly resourceType: ResourceName;
  readonly checkedAtMs: number;
  readonly equal: boolean;
  /** Rows plus tombstones on each side, this device's own rows left out of both. */
  readonly localCount: number;
  readonly peerCount: number;
}

interface DigestCheckRow {
  peer_device_id: string;
  resource_type: ResourceName;
  checked_at_ms: number;
  equal: number;
  local_count: number;
  peer_count: number;
}

/**
 * The `digest_checks` table: what the node's anti-entropy last found per (peer, type). Local
 * bookkeeping for `doctor`, never synced; a later comparison replaces an earlier one.
 */
export class DigestCheckStore {
  constructor(private readonly sql: SqlRunner) {}

  async record(peerDeviceId: string, results: readonly TypeComparison[], nowMs: number): Promise<void> {
    for (const result of results) {
      await this.sql.query(
        `INSERT INTO digest_checks (peer_device_id, resource_type, checked_at_ms, equal, local_count, peer_count)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (peer_device_id, resource_type) DO UPDATE SET
           checked_at_ms = excluded.checked_at_ms, equal = excluded.equal,
           local_count = excluded.local_count, peer_count = excluded.peer_count`,
        [
          peerDeviceId,
          result.resourceType,
          nowMs,
          result.equal ? 1 : 0,
          result.local.rows + result.local.tombstones,
          result.peer.rows + result.peer.tombstones,
        ],
      );
    }
  }

  async all(): Promise<DigestCheck[]> {
    const rows = await this.sql.query<DigestCheckRow>(
      'SELECT * FROM digest_checks ORDER BY peer_device_id, resource_type',
    );
    return rows.map((row) => ({
      peerDeviceId: row.peer_device_id,
      resourceType: row.resource_type,
      checkedAtMs: row.checked_at_ms,
      equal: row.equal === 1,
      localCount: row.local_count,
      peerCount: row.peer_count,
    }));
  }
}

/** Records an anti-entropy comparison with a peer, replacing the previous one of each type. */
export async function recordDigestChecks(
  library: Library,
  peerDeviceId: string,
  results: readonly TypeComparison[],
): Promise<void> {
  await library.db.writeTransaction((sql) =>
    new DigestCheckStore(sql).record(peerDeviceId, results, Date.now()),
  );
}
