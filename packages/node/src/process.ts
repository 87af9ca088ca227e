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
  // Listened for before anything starts: a signal while the node or its companion is still
  // starting (the watcher subscribing a large tree, after "listening" was logged) waits for the
  // start to finish and then stops as gracefully as later, instead of killing the process.
  let stopSignal: NodeJS.Signals | undefined;
  let stop: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopSignal) {
      logger.warn({ signal }, 'second signal during shutdown; exiting now');
      process.exit(1);
    }
    stopSignal = signal;
    logger.info({ signal }, 'signal received');
    stop?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let node: RunningNode;
  try {
    node = await startNode({ ...config, logger });
  } catch (error) {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    throw error;
  }
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
    stop = resolve;
    if (stopSignal) resolve();
  });
  try {
    await companion?.close();
  } catch (error) {
    logger.error({ err: error }, 'stopping failed');
  }
  try {
    await node.close();
  } catch (error) {
    logger.error({ err: error }, 'shutdown failed');
    process.exit(1);
  }
  process.exit(0);
}
