import { TidemarkError } from '@tidemark/engine';
import type { Logger } from 'pino';
import { HostPort, parseHostPort } from './address';

export interface NodeConfig {
  /** Path to the library database (library.db). */
  libraryFile: string;
  /** "HOST:PORT" to serve gRPC on; port 0 picks a free port (see RunningNode.address). */
  listen: string;
  /** "HOST:PORT" of peers to pull from: backfill, then follow. */
  peers?: string[];
  /** "HOST:PORT" for the Prometheus /metrics endpoint (port 0 allowed); no endpoint when absent. */
  metrics?: string;
  /** Batch size requested from peers; 0 or absent means the peer's default. */
  batchSize?: number;
  /** Plaintext gRPC. Required until TLS and pairing land. */
  insecure: boolean;
  logger?: Logger;
  /** Remote HLC stamps further ahead than this are rejected (engine default 5 minutes). */
  maxDriftMs?: number;
  /** Jittered exponential backoff between session attempts; defaults 200 ms .. 10 s. */
  reconnect?: { initialMs?: number; maxMs?: number };
}

export interface ReconnectPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** NodeConfig after validation, with defaults filled in and addresses parsed. */
export interface ResolvedConfig {
  readonly libraryFile: string;
  readonly listen: HostPort;
  readonly peers: readonly string[];
  readonly metrics: HostPort | undefined;
  readonly batchSize: number;
  readonly maxDriftMs: number | undefined;
  readonly reconnect: ReconnectPolicy;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { initialMs: 200, maxMs: 10_000 };

function invalid(message: string): TidemarkError {
  return new TidemarkError('INVALID_ARGUMENT', message);
}

/** Checks everything a config can get wrong before anything is opened or bound. */
export function resolveConfig(config: NodeConfig): ResolvedConfig {
  if (config.insecure !== true) {
    throw invalid('TLS is not implemented yet: pass --insecure to serve and dial plaintext gRPC');
  }
  if (!config.libraryFile) throw invalid('a library file is required');
  const listen = parseHostPort(config.listen, 'listen address');
  const peers = config.peers ?? [];
  for (const peer of peers) parseHostPort(peer, 'peer address');
  const duplicate = peers.find((peer, index) => peers.indexOf(peer) !== index);
  if (duplicate) throw invalid(`peer ${duplicate} is listed twice`);
  const metrics = config.metrics === undefined ? undefined : parseHostPort(config.metrics, 'metrics address');
  const batchSize = config.batchSize ?? 0;
  if (!Number.isSafeInteger(batchSize) || batchSize < 0) {
    throw invalid(`batch size ${batchSize} must be a non-negative integer (0 means the peer's default)`);
  }
  if (config.maxDriftMs !== undefined && !(Number.isFinite(config.maxDriftMs) && config.maxDriftMs > 0)) {
    throw invalid(`max drift ${config.maxDriftMs} ms must be a positive number`);
  }
  const initialMs = config.reconnect?.initialMs ?? DEFAULT_RECONNECT.initialMs;
  const maxMs = config.reconnect?.maxMs ?? Math.max(DEFAULT_RECONNECT.maxMs, initialMs);
  if (!(initialMs > 0) || !(maxMs >= initialMs) || !Number.isFinite(maxMs)) {
    throw invalid(`reconnect backoff must satisfy 0 < initialMs (${initialMs}) <= maxMs (${maxMs})`);
  }
  return {
    libraryFile: config.libraryFile,
    listen,
    peers,
    metrics,
    batchSize,
    maxDriftMs: config.maxDriftMs,
    reconnect: { initialMs, maxMs },
  };
}
