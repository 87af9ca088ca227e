import { SqlRunner } from './store/library-database';
import { RESOURCE_TABLES } from './store/resource-tables';

/** How far a peer's wall clock is from this device's, as last estimated. */
export interface PeerClockOffset {
  readonly peerDeviceId: string;
  /** The peer's clock minus this device's, in ms: positive when the peer's clock is ahead. */
  readonly offsetMs: number;
  /**
   * The round trip of the handshake the estimate came from, which bounds its error (half of it).
   * Undefined for an estimate made one way, when the peer pulled from this device: that one is
   * off by the one-way latency.
   */
  readonly roundTripMs: number | undefined;
  /** This device's wall clock when it was estimated. */
  readonly measuredAtMs: number;
}

/**
 * NTP's estimate from one request and its answer: the server's clock read while answering,
 * against the midpoint of the client's send and receive times.
 */
export function offsetFromRoundTrip(
  peerDeviceId: string,
  sentAtMs: number,
  receivedAtMs: number,
  serverTimeMs: number,
): PeerClockOffset {
  return {
    peerDeviceId,
    offsetMs: Math.round(serverTimeMs - (sentAtMs + receivedAtMs) / 2),
    roundTripMs: Math.max(0, receivedAtMs - sentAtMs),
    measuredAtMs: receivedAtMs,
  };
}

/** The estimate a server makes from a client's send time alone. */
export function offsetOneWay(
  peerDeviceId: string,
  peerSentAtMs: number,
  receivedAtMs: number,
): PeerClockOffset {
  return {
    peerDeviceId,
    offsetMs: peerSentAtMs - receivedAtMs,
    roundTripMs: undefined,
    measuredAtMs: receivedAtMs,
  };
}

interface PeerClockRow {
  peer_device_id: string;
  offset_ms: number;
  round_trip_ms: number | null;
  measured_at_ms: number;
}

/** The `peer_clocks` table: the newest clock-offset estimate per peer device. */
export class PeerClockStore {
  constructor(private readonly sql: SqlRunner) {}

  async record(offset: PeerClockOffset): Promise<void> {
    await this.sql.query(
      `INSERT INTO peer_clocks (peer_device_id, offset_ms, round_trip_ms, measured_at_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (peer_device_id) DO UPDATE SET offset_ms = excluded.offset_ms,
         round_trip_ms = excluded.round_trip_ms, measured_at_ms = excluded.measured_at_ms`,
      [offset.peerDeviceId, offset.offsetMs, offset.roundTripMs ?? null, offset.measuredAtMs],
    );
  }

  /**
   * Records the estimate only for a device this library holds a device row of: anyone may send
   * a handshake to an insecure node, and a made-up device id must not grow this table.
   */
  async recordForKnownDevice(offset: PeerClockOffset): Promise<void> {
    await this.sql.query(
      `INSERT INTO peer_clocks (peer_device_id, offset_ms, round_trip_ms, measured_at_ms)
       SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM ${RESOURCE_TABLES.device.table} WHERE uuid = ?1)
       ON CONFLICT (peer_device_id) DO UPDATE SET offset_ms = excluded.offset_ms,
         round_trip_ms = excluded.round_trip_ms, measured_at_ms = excluded.measured_at_ms`,
      [offset.peerDeviceId, offset.offsetMs, offset.roundTripMs ?? null, offset.measuredAtMs],
    );
  }

  async all(): Promise<PeerClockOffset[]> {
    const rows = await this.sql.query<PeerClockRow>('SELECT * FROM peer_clocks ORDER BY peer_device_id');
    return rows.map((row) => ({
      peerDeviceId: row.peer_device_id,
      offsetMs: row.offset_ms,
      roundTripMs: row.round_trip_ms ?? undefined,
      measuredAtMs: row.measured_at_ms,
    }));
  }
}
