import { AppliedBatch, COMMIT_ID_WORK, commitIdCost, HlcStamp, resourceNameOf } from '@tidemark/engine';
import type { StateBatch } from '@tidemark/proto';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { PeerSessionEvent } from './peers/events';

const PEER_TYPE = ['peer', 'resource_type'] as const;
const PEER_TYPE_ORIGIN = ['peer', 'resource_type', 'origin'] as const;

/**
 * The node's Prometheus metrics, in a registry of its own so that several nodes in one process
 * (tests, the demo) do not collide. Labels: `peer` is the configured "HOST:PORT",
 * `resource_type` the lowercase type name.
 */
export class NodeMetrics {
  readonly registry = new Registry();

  private readonly watermarkSeq = new Gauge({
    name: 'tidemark_watermark_seq',
    help: "The peer's change-sequence number up to which this node has applied the type.",
    labelNames: PEER_TYPE,
    registers: [this.registry],
  });
  private readonly lagRows = new Gauge({
    name: 'tidemark_lag_rows',
    help: 'Rows and tombstones of the type the peer still had to send when it read the last batch.',
    labelNames: PEER_TYPE,
    registers: [this.registry],
  });
  private readonly lagSeconds = new Gauge({
    name: 'tidemark_lag_seconds',
    help: "How far the last applied row's HLC is behind the peer's newest row of the type; 0 when caught up.",
    labelNames: PEER_TYPE,
    registers: [this.registry],
  });
  private readonly rowsApplied = new Counter({
    name: 'tidemark_rows_applied_total',
    help: 'Rows and tombstones received from the peer that won last-writer-wins and were written.',
    labelNames: PEER_TYPE,
    registers: [this.registry],
  });
  private readonly rowsReceived = new Counter({
    name: 'tidemark_rows_received_total',
    help: 'Rows and tombstones received from the peer, written or skipped as already known.',
    labelNames: PEER_TYPE,
    registers: [this.registry],
  });
  private readonly rowsReceivedByOrigin = new Counter({
    name: 'tidemark_rows_received_by_origin_total',
    help: 'Rows and tombstones received from the peer, by the device that wrote them (origin): in a mesh, which peer passes on which origin.',
    labelNames: PEER_TYPE_ORIGIN,
    registers: [this.registry],
  });
  private readonly rowsAppliedByOrigin = new Counter({
    name: 'tidemark_rows_applied_by_origin_total',
    help: 'Rows and tombstones received from the peer and written, by origin; received minus applied is what this node already held.',
    labelNames: PEER_TYPE_ORIGIN,
    registers: [this.registry],
  });
  private readonly rowsHeldSkipped = new Counter({
    name: 'tidemark_rows_skipped_held_total',
    help: 'Rows and tombstones the peer left out of its stream because this node held them already (its own, or arrived through another peer).',
    labelNames: PEER_TYPE,
    registers: [this.registry],
  });
  private readonly batches = new Counter({
    name: 'tidemark_batches_total',
    help: 'Batches received from the peer and applied.',
    labelNames: PEER_TYPE,
    registers: [this.registry],
  });
  private readonly rejectedBatches = new Counter({
    name: 'tidemark_rejected_batches_total',
    help: 'Batches rejected whole (a malformed record); the watermark stayed and the type is retried.',
    labelNames: PEER_TYPE,
    registers: [this.registry],
  });
  private readonly beyondDrift = new Counter({
    name: 'tidemark_hlc_beyond_drift_total',
    help: "Rows and tombstones received stamped further ahead of this node's clock than the max drift: applied, adopted by the clock only up to the max drift.",
    labelNames: PEER_TYPE,
    registers: [this.registry],
  });
  private readonly peerClockOffset = new Gauge({
    name: 'tidemark_peer_clock_offset_seconds',
    help: "The peer's wall clock minus this node's, estimated at the last handshake (round-trip corrected); positive when the peer's clock is ahead.",
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  private readonly reconnects = new Counter({
    name: 'tidemark_reconnects_total',
    help: 'Reconnects scheduled after the session with the peer failed.',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  private readonly connected = new Gauge({
    name: 'tidemark_peer_connected',
    help: '1 while the session with the peer is connected, else 0.',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });

  private readonly rowsServed = new Counter({
    name: 'tidemark_rows_served_total',
    help: 'Rows and tombstones this node handed to the streams of its callers (written to the stream; a caller that goes away may not read the last few).',
    labelNames: ['resource_type'] as const,
    registers: [this.registry],
  });

  private readonly digestDifferent = new Gauge({
    name: 'tidemark_digest_different',
    help: "1 when anti-entropy's newest comparison found the type different from the peer's (this node's own rows left out of both), else 0.",
    labelNames: PEER_TYPE,
    registers: [this.registry],
  });
  private readonly digestChecks = new Counter({
    name: 'tidemark_digest_checks_total',
    help: 'Anti-entropy comparisons of every type with the peer, by result (equal or different).',
    labelNames: ['peer', 'result'] as const,
    registers: [this.registry],
  });

  /** The configured address ("HOST:PORT") of each peer device, from its last handshake. */
  private readonly peerOf = new Map<string, string>();

  /** The newest HLC the peer holds per "peer|type", from its handshake and from batches since. */
  private readonly peerNewest = new Map<string, HlcStamp>();

  /**
   * `processMetrics`: Node's process figures (memory, CPU, event-loop delay). Only when they are
   * served: prom-client samples the event-loop delay with a 10 ms libuv timer, and an idle node
   * with no metrics endpoint would wake 100 times a second for figures nobody reads.
   */
  constructor(options: { processMetrics: boolean } = { processMetrics: true }) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
    registerCommitIdMetrics(this.registry);
  }

  /** A batch written to a caller's stream. */
  batchServed(batch: StateBatch): void {
    const resourceType = safeName(batch.resourceType);
    if (resourceType === undefined) return;
    this.rowsServed.inc({ resource_type: resourceType }, batch.records.length + batch.tombstones.length);
  }

  /**
   * A batch from a peer that committed (`Library.applied$`): counted here, not from the
   * session's batch events, which miss a batch whose session ended while it was being applied.
   */
  applied(batch: AppliedBatch): void {
    const labels = {
      peer: this.peerOf.get(batch.peerDeviceId) ?? batch.peerDeviceId,
      resource_type: batch.resourceType,
    };
    this.batches.inc(labels);
    this.beyondDrift.inc(labels, batch.beyondDrift);
    this.rowsApplied.inc(labels, batch.written);
    this.rowsReceived.inc(labels, batch.received);
    this.rowsHeldSkipped.inc(labels, batch.heldSkipped);
    for (const [origin, counts] of batch.byOrigin) {
      this.rowsReceivedByOrigin.inc({ ...labels, origin }, counts.received);
      this.rowsAppliedByOrigin.inc({ ...labels, origin }, counts.written);
    }
  }

  observe(event: PeerSessionEvent): void {
    const { peer } = event;
    switch (event.kind) {
      case 'connecting':
        this.connected.set({ peer }, 0);
        return;
      case 'connected':
        this.peerOf.set(event.peerDeviceId, peer);
        this.connected.set({ peer }, 1);
        if (event.event.clockOffset)
          this.peerClockOffset.set({ peer }, event.event.clockOffset.offsetMs / 1000);
        for (const head of event.event.handshake.heads) {
          if (!head.maxHlc) continue;
          const resourceType = safeName(head.resourceType);
          if (resourceType) this.peerNewest.set(`${peer}|${resourceType}`, head.maxHlc);
        }
        return;
      case 'disconnected':
        this.connected.set({ peer }, 0);
        return;
      case 'reconnect_scheduled':
        this.reconnects.inc({ peer });
        return;
      case 'digest_check':
        this.digestChecks.inc({ peer, result: event.differing.length ? 'different' : 'equal' });
        for (const result of event.results)
          this.digestDifferent.set({ peer, resource_type: result.resourceType }, result.equal ? 0 : 1);
        return;
      case 'sync':
        break;
    }
    const sync = event.event;
    if (sync.kind === 'backfilled') return;
    const labels = { peer, resource_type: sync.resourceType };
    if (sync.kind === 'type_failed') {
      this.rejectedBatches.inc(labels);
      return;
    }
    // The counters of applied batches come from `applied` (a batch's event can be lost with its
    // subscriber); a gauge's lost update is set right by the next one.
    this.watermarkSeq.set(labels, sync.watermarkSeq);
    this.lagRows.set(labels, sync.remaining);
    const key = `${peer}|${sync.resourceType}`;
    const applied = sync.checkpointHlc;
    const newest = this.peerNewest.get(key);
    if (applied && (!newest || applied.physicalMs > newest.physicalMs)) this.peerNewest.set(key, applied);
    if (sync.caughtUp) this.lagSeconds.set(labels, 0);
    else if (applied && newest)
      this.lagSeconds.set(labels, Math.max(0, newest.physicalMs - applied.physicalMs) / 1000);
  }
}

/**
 * The restored-history check's operations and their latency, process-wide totals from the engine
 * read when the page is served (several nodes in one process share them).
 */
function registerCommitIdMetrics(registry: Registry): void {
  new Counter({
    name: 'tidemark_commit_id_operations_total',
    help: 'Operations of the restored-history check in this process, by work: commits rows written, commit lookups for checkpoints and resuming cursors, history-mark checks and writes, commit-id form checks (docs/architecture.md, "What the check costs").',
    labelNames: ['work'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const cost = commitIdCost();
      for (const work of COMMIT_ID_WORK) this.inc({ work }, cost[work].count);
    },
  });
  new Counter({
    name: 'tidemark_commit_id_seconds_total',
    help: 'Wall time of those operations, each from its call to its settled promise: latency, waits for the database connection and the event loop included, not CPU.',
    labelNames: ['work'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const cost = commitIdCost();
      for (const work of COMMIT_ID_WORK) this.inc({ work }, cost[work].seconds);
    },
  });
}

function safeName(type: number): string | undefined {
  try {
    return resourceNameOf(type);
  } catch {
    // A newer peer may know types this node does not; they have no metrics here.
    return undefined;
  }
}
