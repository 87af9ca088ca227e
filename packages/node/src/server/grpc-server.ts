import * as grpc from '@grpc/grpc-js';
import { Library, LibrarySyncService, LibrarySyncServiceOptions, TidemarkError } from '@tidemark/engine';
import type { Logger } from 'pino';
import { formatHostPort, HostPort } from '../address';
import { ConnectionLimits, DEFAULT_CONNECTION_LIMITS, serverOptions } from '../grpc/grpc-options';
import { addHealthService, addReflectionService, markNotServing } from './introspection';
import { createPairingHandlers, LenientPairingService, PairingTls } from '../pairing/pairing-server';
import { LenientSyncService } from './request-decoding';
import { CallGuard, insecureGuard } from '../security/call-guard';
import { BatchServed, createSyncServiceHandlers } from './sync-server';

/** How the server authenticates: plaintext with no checks, or mutual TLS with member pinning. */
export interface ServerSecurity {
  readonly credentials: grpc.ServerCredentials;
  readonly guard: CallGuard;
  /** Set in TLS mode: pairing, and the membership changes that cut off removed members. */
  readonly tls?: PairingTls;
}

export const INSECURE_SERVER: ServerSecurity = {
  credentials: grpc.ServerCredentials.createInsecure(),
  guard: insecureGuard(),
};

export interface NodeServer {
  /** Bound "HOST:PORT". */
  readonly address: string;
  /**
   * Graceful stop: health goes NOT_SERVING, open streams end with UNAVAILABLE, unary calls in
   * flight may finish for up to `timeoutMs`, then whatever is left is cancelled.
   */
  shutdown(timeoutMs: number): Promise<void>;
}

/**
 * Why an address cannot be listened on, when it is the address given (another --listen fixes
 * it): not UNAVAILABLE, which says a peer could not be reached.
 */
function addressProblem(message: string): string | undefined {
  if (message.includes('EADDRINUSE')) return 'the address is in use (another node or program listens there)';
  if (message.includes('EADDRNOTAVAIL')) return 'the address is not one of this machine';
  if (message.includes('EACCES')) return 'this user may not listen on that port';
  return undefined;
}

function bind(server: grpc.Server, listen: HostPort, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(formatHostPort(listen), credentials, (error, port) => {
      if (!error) return resolve(port);
      const address = formatHostPort(listen);
      const problem = addressProblem(error.message);
      reject(
        problem
          ? new TidemarkError(
              'INVALID_ARGUMENT',
              `cannot listen on ${address}: ${problem}; choose another --listen`,
            )
          : new TidemarkError('UNAVAILABLE', `cannot listen on ${address}: ${error.message}`),
      );
    });
  });
}

/** The node's gRPC server: the sync service, grpc.health.v1 and server reflection. */
export async function startNodeServer(
  library: Library,
  listen: HostPort,
  logger: Logger,
  security: ServerSecurity = INSECURE_SERVER,
  connections: ConnectionLimits = DEFAULT_CONNECTION_LIMITS,
  served?: BatchServed,
  serviceOptions: LibrarySyncServiceOptions = {},
): Promise<NodeServer> {
  const server = new grpc.Server(serverOptions(connections));
  const serverLogger = logger.child({ component: 'server' });
  const sync = createSyncServiceHandlers(
    new LibrarySyncService(library, serviceOptions),
    serverLogger,
    security.guard,
    served,
  );
  server.addService(LenientSyncService, sync.implementation);
  server.addService(
    LenientPairingService,
    createPairingHandlers(library, security.tls, security.guard.limiter, serverLogger),
  );
  // A removed member's live streams end at the next membership check, not at its next call.
  security.tls?.members.onChange(() => sync.cutOffRevoked());
  const health = addHealthService(server);
  addReflectionService(server);
  const port = await bind(server, listen, security.credentials).catch((error: unknown) => {
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
