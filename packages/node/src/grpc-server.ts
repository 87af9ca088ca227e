import * as grpc from '@grpc/grpc-js';
import { Library, LibrarySyncService, TidemarkError } from '@tidemark/engine';
import type { Logger } from 'pino';
import { formatHostPort, HostPort } from './address';
import { SERVER_OPTIONS } from './grpc-options';
import { addHealthService, addReflectionService, markNotServing } from './introspection';
import { LenientSyncService } from './request-decoding';
import { createSyncServiceHandlers } from './sync-server';

export interface NodeServer {
  /** Bound "HOST:PORT". */
  readonly address: string;
  /**
   * Graceful stop: health goes NOT_SERVING, open streams end with UNAVAILABLE, unary calls in
   * flight may finish for up to `timeoutMs`, then whatever is left is cancelled.
   */
  shutdown(timeoutMs: number): Promise<void>;
}

function bind(server: grpc.Server, listen: HostPort): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(formatHostPort(listen), grpc.ServerCredentials.createInsecure(), (error, port) =>
      error
        ? reject(
            new TidemarkError('UNAVAILABLE', `cannot listen on ${formatHostPort(listen)}: ${error.message}`),
          )
        : resolve(port),
    );
  });
}

/** The node's gRPC server: the sync service, grpc.health.v1 and server reflection. */
export async function startNodeServer(
  library: Library,
  listen: HostPort,
  logger: Logger,
): Promise<NodeServer> {
  const server = new grpc.Server(SERVER_OPTIONS);
  const sync = createSyncServiceHandlers(
    new LibrarySyncService(library),
    logger.child({ component: 'server' }),
  );
  server.addService(LenientSyncService, sync.implementation);
  const health = addHealthService(server);
  addReflectionService(server);
  const port = await bind(server, listen).catch((error: unknown) => {
    server.forceShutdown();
    throw error;
  });
  let stopping: Promise<void> | undefined;
  return {
    address: formatHostPort({ host: listen.host, port }),
    shutdown(timeoutMs) {
      stopping ??= new Promise<void>((resolve) => {
        markNotServing(health);
        sync.endStreams('this node is shutting down; retry with backoff');
        const timer = setTimeout(() => {
          logger.warn({ timeoutMs }, 'calls still open at shutdown; cancelling them');
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return stopping;
    },
  };
}
