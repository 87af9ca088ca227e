import { BackfillGate, Library } from '@tidemark/engine';
import type { Logger } from 'pino';
import { merge, Observable, Subject, Subscription } from 'rxjs';
import { NodeConfig, ResolvedConfig, resolveConfig } from './config';
import { DAEMON_WRITER_CACHE_KIB } from './daemon-memory';
import type { PeerSessionEvent } from './peers/events';
import { NodeServer, startNodeServer } from './server/grpc-server';
import { createLogger } from './logger';
import { MetricsServer, startMetricsServer } from './metrics-server';
import { NodeMetrics } from './metrics';
import { peerSession$ } from './peers/peer-session';
import { NodeSecurity, openNodeSecurity } from './security/node-security';
import { logSessionEvent } from './peers/session-log';

/** How long unary calls in flight may take to finish at shutdown before they are cancelled. */
const SHUTDOWN_GRACE_MS = 5_000;

export interface RunningNode {
  /** Bound gRPC "HOST:PORT" (the real port when the config asked for 0). */
  readonly address: string;
  /** Bound metrics "HOST:PORT", when metrics are served. */
  readonly metricsAddress?: string;
  readonly library: Library;
  /**
   * Events of every peer session. Hot: the sessions run whether or not anyone listens. They
   * start on the next macrotask after startNode resolves, so subscribing right away sees all of
   * them. Completes when the node closes.
   */
  readonly events$: Observable<PeerSessionEvent>;
  /**
   * Graceful stop: sessions stop (an apply in flight commits or rolls back whole, as one
   * transaction), served streams end with UNAVAILABLE, the server shuts down, the library closes.
   * Idempotent.
   */
  close(): Promise<void>;
}

/** Opens the library, serves it over gRPC (plus health, reflection, metrics) and syncs from peers. */
export async function startNode(config: NodeConfig): Promise<RunningNode> {
  const resolved = resolveConfig(config);
  const logger: Logger = config.logger ?? createLogger();
  const library = await Library.open(resolved.libraryFile, {
    writerCacheKib: DAEMON_WRITER_CACHE_KIB,
    fallbackPollMs: resolved.fallbackPollMs,
    ...(resolved.databaseConnections === undefined ? {} : { maxConnections: resolved.databaseConnections }),
    onCommitWatchError: (error) => logger.warn({ err: error }, error.message),
    ...(resolved.maxDriftMs === undefined ? {} : { clock: { maxDriftMs: resolved.maxDriftMs } }),
  });
  let server: NodeServer | undefined;
  let metricsServer: MetricsServer | undefined;
  let security: NodeSecurity | undefined;
  try {
    security = await openNodeSecurity(library, resolved, logger);
    const metrics = new NodeMetrics({ processMetrics: resolved.metrics !== undefined });
    server = await startNodeServer(
      library,
      resolved.listen,
      logger,
      security.server,
      resolved.connections,
      (batch) => metrics.batchServed(batch),
      { relayHoldMs: resolved.relayHoldMs },
    );
    if (resolved.metrics) {
      metricsServer = await startMetricsServer(resolved.metrics, metrics.registry, logger);
    }
    return runNode({
      config: resolved,
      library,
      server,
      metricsServer,
      metrics,
      logger,
      security,
    });
  } catch (error) {
    security?.close();
    await server?.shutdown(0);
    await metricsServer?.close();
    await library.close();
    throw error;
  }
}

function runNode(parts: {
  config: ResolvedConfig;
  library: Library;
  server: NodeServer;
  metricsServer: MetricsServer | undefined;
  metrics: NodeMetrics;
  logger: Logger;
  security: NodeSecurity;
}): RunningNode {
  const { config, library, server, metricsServer, metrics, logger, security } = parts;
  const events = new Subject<PeerSessionEvent>();
  const sessionLogger = logger.child({ component: 'session' });
  const observer = events.subscribe((event) => {
    metrics.observe(event);
    logSessionEvent(sessionLogger, event);
  });
  const appliedCounter = library.applied$.subscribe((batch) => metrics.applied(batch));
  let sessions: Subscription | undefined;
  let closing: Promise<void> | undefined;
  // One per node: each type is backfilled from one peer at a time, so the next peer leaves out
  // what the first delivered (docs/architecture.md, "Origin-aware serving").
  const backfillGate = config.originFilter ? new BackfillGate() : undefined;
  const startSessions = () => {
    // Only `next` is forwarded: with no peers the merge completes at once, but events$ must last
    // until close().
    sessions = merge(
      ...config.peers.map((peer) =>
        peerSession$({
          peer,
          library,
          batchSize: config.batchSize,
          reconnect: config.reconnect,
          antiEntropy: config.antiEntropy,
          connect: (address) => security.connect(address),
          backfillGate,
          originFilter: config.originFilter,
        }),
      ),
    ).subscribe({ next: (event) => events.next(event) });
  };
  const starter = setImmediate(startSessions);
  // A removed member must not keep feeding this node over a connection made before the removal:
  // sessions restart, resume from their watermarks, and the removed peer fails the TLS pinning.
  // A new member is dialed at once, instead of after the long backoff of a refused certificate.
  security.onMembersChanged(({ added, removed }) => {
    if (closing || !sessions) return;
    logger.info({ added, removed }, 'members changed; restarting peer sessions');
    sessions.unsubscribe();
    startSessions();
  });

  const close = async () => {
    logger.info({ address: server.address }, 'shutting down');
    clearImmediate(starter);
    sessions?.unsubscribe();
    security.close();
    events.complete();
    observer.unsubscribe();
    await server.shutdown(SHUTDOWN_GRACE_MS);
    await metricsServer?.close();
    // Waits for a write transaction in flight, so a batch being applied commits whole (the
    // metrics server is closed by then: such a batch is in the library, not in the counters).
    await library.close();
    appliedCounter.unsubscribe();
    logger.info('stopped');
  };

  return {
    address: server.address,
    metricsAddress: metricsServer?.address,
    library,
    events$: events.asObservable(),
    close: () => (closing ??= close()),
  };
}
