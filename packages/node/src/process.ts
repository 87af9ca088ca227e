import { format } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { NodeConfig } from './config';
import { tuneProcessForDaemon } from './daemon-memory';
import { createLogger, Logger } from './logger';
import { RunningNode, startNode } from './node';

/** Work run alongside a node in its process (the CLI's location watcher), stopped before the node closes. */
export interface NodeCompanion {
  close(): Promise<void>;
}

/**
 * Runs a node as the process's main job: starts it, logs the bound address as the JSON line
 * {"msg":"listening","address":"HOST:PORT",...} (scripts and the CLI's tests wait for it), and
 * on SIGTERM or SIGINT closes gracefully and exits 0. A second signal during shutdown exits 1
 * at once, for when a shutdown hangs.
 */
export async function runNodeProcess(
  config: NodeConfig,
  startCompanion?: (node: RunningNode, logger: Logger) => Promise<NodeCompanion>,
): Promise<void> {
  // Before any stream exists: the stream default applies to streams created afterwards.
  tuneProcessForDaemon();
  const logger = config.logger ?? createLogger();
  // grpc-js writes its own diagnostics to stderr as plain text; in a daemon they belong in the
  // structured log. Global, so only here, where the node owns the process.
  const grpcLogger = logger.child({ component: 'grpc-js' });
  grpc.setLogger({ error: (...args: unknown[]) => grpcLogger.warn(format(...args)) });
  const node = await startNode({ ...config, logger });
  logger.info(
    { address: node.address, metricsAddress: node.metricsAddress, library: node.library.identity.libraryId },
    'listening',
  );
  let companion: NodeCompanion | undefined;
  try {
    companion = await startCompanion?.(node, logger);
  } catch (error) {
    await node.close();
    throw error;
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal during shutdown; exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'signal received');
      (companion?.close() ?? Promise.resolve())
        .catch((error: unknown) => logger.error({ err: error }, 'stopping failed'))
        .then(() => node.close())
        .then(
          () => {
            resolve();
            process.exit(0);
          },
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
