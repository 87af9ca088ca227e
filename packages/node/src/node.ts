import { Library } from '@tidemark/engine';
import type { Logger } from 'pino';
import { merge, Observable, Subject, Subscription } from 'rxjs';
import { NodeConfig, ResolvedConfig, resolveConfig } from './config';
import type { PeerSessionEvent } from './events';
import { NodeServer, startNodeServer } from './grpc-server';
import { GrpcSyncTransport } from './grpc-transport';
import { createLogger } from './logger';
import { MetricsServer, startMetricsServer } from './metrics-server';
import { NodeMetrics } from './metrics';
import { peerSession$ } from './peer-session';
import { logSessionEvent } from './session-log';

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
  const library = await Library.open(
    resolved.libraryFile,
    resolved.maxDriftMs === undefined ? {} : { clock: { maxDriftMs: resolved.maxDriftMs } },
  );
  let server: NodeServer | undefined;
  let metricsServer: MetricsServer | undefined;
  try {
    server = await startNodeServer(library, resolved.listen, logger);
    const metrics = new NodeMetrics();
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
      insecure: config.insecure,
    });
  } catch (error) {
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
  insecure: boolean;
}): RunningNode {
  const { config, library, server, metricsServer, metrics, logger, insecure } = parts;
  const events = new Subject<PeerSessionEvent>();
  const sessionLogger = logger.child({ component: 'session' });
  const observer = events.subscribe((event) => {
    metrics.observe(event);
    logSessionEvent(sessionLogger, event);
  });
  let sessions: Subscription | undefined;
  let closing: Promise<void> | undefined;
  const starter = setImmediate(() => {
    // Only `next` is forwarded: with no peers the merge completes at once, but events$ must last
    // until close().
    sessions = merge(
      ...config.peers.map((peer) =>
        peerSession$({
          peer,
          library,
          batchSize: config.batchSize,
          reconnect: config.reconnect,
          connect: (address) => new GrpcSyncTransport(address, { insecure }),
        }),
      ),
    ).subscribe({ next: (event) => events.next(event) });
  });

  const close = async () => {
    logger.info({ address: server.address }, 'shutting down');
    clearImmediate(starter);
    sessions?.unsubscribe();
    events.complete();
    observer.unsubscribe();
    await server.shutdown(SHUTDOWN_GRACE_MS);
    await metricsServer?.close();
    // Waits for a write transaction in flight, so a batch being applied commits whole.
    await library.close();
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
