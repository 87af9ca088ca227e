import type { Logger } from 'pino';
import type { PeerSessionEvent } from './events';
import { NEEDS_OPERATOR } from './peer-session';

/**
 * One log line per session event: each batch at debug, a type catching up and connection
 * changes at info, rejected batches and epoch resets at warn/error, and failures that need a
 * person (wrong library, unknown device) at error on every attempt.
 */
export function logSessionEvent(logger: Logger, event: PeerSessionEvent): void {
  const peer = event.peer;
  switch (event.kind) {
    case 'connecting':
      logger.debug({ peer, attempt: event.attempt }, 'connecting to peer');
      return;
    case 'connected': {
      const { peerDeviceId, peerEpoch, resetFromEpoch, handshake, clockOffset, maxDriftMs } = event.event;
      const fields = {
        peer,
        peer_device_id: peerDeviceId,
        peer_epoch: peerEpoch,
        peer_name: handshake.deviceName,
        ...(clockOffset
          ? { clock_offset_ms: clockOffset.offsetMs, clock_round_trip_ms: clockOffset.roundTripMs }
          : {}),
      };
      if (clockOffset && Math.abs(clockOffset.offsetMs) > maxDriftMs) {
        logger.warn(
          { ...fields, max_drift_ms: maxDriftMs },
          `the peer's clock is ${Math.round(Math.abs(clockOffset.offsetMs) / 1000)} s ` +
            `${clockOffset.offsetMs > 0 ? 'ahead of' : 'behind'} this device's, beyond the max drift; ` +
            'its rows are applied, and this clock adopts their stamps only up to the max drift',
        );
      }
      if (resetFromEpoch) {
        logger.warn(
          { ...fields, previous_epoch: resetFromEpoch },
          "peer's database was recreated or restored; every type restarts from 0 (nothing is skipped)",
        );
      }
      logger.info(fields, 'connected to peer');
      return;
    }
    case 'disconnected': {
      const fields = { peer, peer_device_id: event.peerDeviceId, code: event.error.code, err: event.error };
      if (NEEDS_OPERATOR.has(event.error.code)) {
        logger.error(
          fields,
          `peer refused this node (${event.error.code}); check the peer address and library`,
        );
      } else {
        logger.warn(fields, 'disconnected from peer');
      }
      return;
    }
    case 'reconnect_scheduled':
      logger.info({ peer, attempt: event.attempt, delay_ms: event.delayMs }, 'reconnect scheduled');
      return;
    case 'digest_check': {
      const fields = { peer, peer_device_id: event.peerDeviceId };
      if (event.differing.length === 0) {
        logger.debug(fields, 'every type equal to the peer (anti-entropy)');
        return;
      }
      logger.warn(
        {
          ...fields,
          differing: event.differing,
          counts: Object.fromEntries(
            event.results
              .filter((result) => !result.equal)
              .map((result) => [
                result.resourceType,
                {
                  local: result.local.rows + result.local.tombstones,
                  peer: result.peer.rows + result.peer.tombstones,
                },
              ]),
          ),
        },
        `digests differ from the peer for ${event.differing.join(', ')}: ` +
          'run tidemark repair --peer against it (tidemark doctor shows the finding)',
      );
      return;
    }
    case 'sync':
      break;
  }
  const sync = event.event;
  const base = { peer, peer_device_id: event.peerDeviceId };
  switch (sync.kind) {
    case 'batch': {
      const fields = {
        ...base,
        resource_type: sync.resourceType,
        batch: {
          phase: sync.phase,
          received: sync.received,
          written: sync.written,
          remaining: sync.remaining,
          watermark_seq: sync.watermarkSeq,
          batches: sync.batches,
          rows_per_second: Math.round(sync.rowsPerSecond),
        },
      };
      if (sync.reset)
        logger.warn(
          fields,
          'type restarted from 0: the cursor belonged to another epoch or history of the peer (its database was recreated or restored)',
        );
      if (sync.beyondDrift > 0) {
        logger.warn(
          { ...fields, beyond_drift: sync.beyondDrift, max_ahead_ms: sync.maxAheadMs },
          'rows stamped beyond the max drift ahead of this clock: applied, and adopted by this clock only up to the max drift',
        );
      }
      logger.debug(fields, 'batch applied');
      if (sync.caughtUp && sync.phase === 'backfill') {
        logger.info(
          { ...base, resource_type: sync.resourceType, rows: sync.totalReceived, written: sync.totalWritten },
          'caught up',
        );
      }
      return;
    }
    case 'type_failed':
      logger.error(
        { ...base, resource_type: sync.resourceType, code: sync.error.code, err: sync.error },
        'batch rejected; watermark kept, type retried with backoff, other types go on',
      );
      return;
    case 'backfilled':
      logger.info({ ...base, failed: sync.failed }, 'backfill finished; following');
      return;
  }
}
