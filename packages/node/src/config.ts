import { DEFAULT_RELAY_HOLD_MS, TidemarkError } from '@tidemark/engine';
import type { Logger } from 'pino';
import { formatHostPort, HostPort, isLoopbackHost, parseHostPort } from './address';
import { ConnectionLimits, DEFAULT_CONNECTION_LIMITS } from './grpc/grpc-options';
import { AntiEntropyPolicy, DEFAULT_ANTI_ENTROPY } from './peers/anti-entropy';

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
  /**
   * Tell peers what this node holds, so they leave it out (and its own rows), and backfill each
   * type from one peer at a time (docs/architecture.md, "Origin-aware serving"). Default true;
   * false asks every peer for every row, as nodes did before.
   */
  originFilter?: boolean;
  /**
   * Follow streams of peers that send claims get the rows this node took from other devices
   * only once they are this many ms old (docs/architecture.md, "Relay hold-back"); 0 serves them
   * at once. Default DEFAULT_RELAY_HOLD_MS (1,000).
   */
  relayHoldMs?: number;
  /**
   * Plaintext gRPC with no authentication and no authorization, for loopback addresses only.
   * When false (the default of the CLI), every connection is mutual TLS between paired members.
   */
  insecure: boolean;
  /** Directory holding device-key.pem and device-cert.pem; default: the library file's directory. */
  credentialsDir?: string;
  /** How often members are re-read, so a removal reaches live streams. Default 1 s. */
  membershipCheckMs?: number;
  /**
   * How often followers look for commits of other processes where no file-system notification
   * reports them (docs/architecture.md, "Following commits of other processes"). Default 2 s.
   */
  fallbackPollMs?: number;
  /**
   * A hub library (PostgreSQL): pooled database connections of this process (the engine's
   * default 10 when absent); one more is held for LISTEN while anyone follows.
   */
  databaseConnections?: number;
  logger?: Logger;
  /** Remote HLC stamps further ahead than this are rejected (engine default 5 minutes). */
  maxDriftMs?: number;
  /** Jittered exponential backoff between session attempts; defaults 200 ms .. 10 s. */
  reconnect?: { initialMs?: number; maxMs?: number };
  /** How long the server keeps idle and old connections; defaults in grpc-options.ts. */
  connections?: Partial<ConnectionLimits>;
  /**
   * Anti-entropy: every type's digest is compared with each peer's after its backfill and then
   * every `intervalMs` (default 10 minutes); a difference is looked at again after
   * `confirmDelayMs` (default 5 s) before it is reported.
   */
  antiEntropy?: { intervalMs?: number; confirmDelayMs?: number };
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
  readonly originFilter: boolean;
  readonly relayHoldMs: number;
  readonly maxDriftMs: number | undefined;
  readonly reconnect: ReconnectPolicy;
  readonly insecure: boolean;
  readonly credentialsDir: string | undefined;
  readonly membershipCheckMs: number;
  readonly connections: ConnectionLimits;
  readonly antiEntropy: AntiEntropyPolicy;
  readonly fallbackPollMs: number | undefined;
  readonly databaseConnections: number | undefined;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { initialMs: 200, maxMs: 10_000 };

function invalid(message: string): TidemarkError {
  return new TidemarkError('INVALID_ARGUMENT', message);
}

/** Checks everything a config can get wrong before anything is opened or bound. */
export function resolveConfig(config: NodeConfig): ResolvedConfig {
  if (!config.libraryFile) throw invalid('a library file is required');
  const listen = parseHostPort(config.listen, 'listen address');
  const peers = config.peers ?? [];
  const parsedPeers = peers.map((peer) => parseHostPort(peer, 'peer address'));
  if (config.insecure) {
    const exposed = [listen, ...parsedPeers].find((address) => !isLoopbackHost(address.host));
    if (exposed) {
      throw invalid(
        `--insecure (plaintext, unauthenticated) is allowed on loopback addresses only, not ${formatHostPort(exposed)}; ` +
          'drop --insecure to use mutual TLS between paired devices',
      );
    }
  }
  const membershipCheckMs = config.membershipCheckMs ?? 1_000;
  if (!(Number.isFinite(membershipCheckMs) && membershipCheckMs > 0)) {
    throw invalid(`membership check interval ${membershipCheckMs} ms must be a positive number`);
  }
  const relayHoldMs = config.relayHoldMs ?? DEFAULT_RELAY_HOLD_MS;
  if (!(Number.isSafeInteger(relayHoldMs) && relayHoldMs >= 0 && relayHoldMs < 2 ** 31)) {
    throw invalid(`relay hold-back ${relayHoldMs} ms must be a whole number from 0 to 2147483647`);
  }
  const fallbackPollMs = config.fallbackPollMs;
  if (
    fallbackPollMs !== undefined &&
    !(Number.isSafeInteger(fallbackPollMs) && fallbackPollMs >= 1 && fallbackPollMs < 2 ** 31)
  ) {
    throw invalid(`fallback poll interval ${fallbackPollMs} ms must be a whole number from 1 to 2147483647`);
  }
  const databaseConnections = config.databaseConnections;
  if (
    databaseConnections !== undefined &&
    !(Number.isSafeInteger(databaseConnections) && databaseConnections >= 2 && databaseConnections <= 1000)
  ) {
    throw invalid(`database connections ${databaseConnections} must be a whole number from 2 to 1000`);
  }
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
  const connections = { ...DEFAULT_CONNECTION_LIMITS, ...config.connections };
  for (const [name, ms] of Object.entries(connections)) {
    if (!(Number.isSafeInteger(ms) && ms > 0))
      throw invalid(`connection limit ${name} ${ms} ms must be a positive integer`);
  }
  const antiEntropy = {
    intervalMs: config.antiEntropy?.intervalMs ?? DEFAULT_ANTI_ENTROPY.intervalMs,
    confirmDelayMs: config.antiEntropy?.confirmDelayMs ?? DEFAULT_ANTI_ENTROPY.confirmDelayMs,
  };
  if (
    !(antiEntropy.intervalMs > 0 && Number.isFinite(antiEntropy.intervalMs)) ||
    !(antiEntropy.confirmDelayMs >= 0)
  ) {
    throw invalid(
      `anti-entropy needs 0 < intervalMs (${antiEntropy.intervalMs}) and 0 <= confirmDelayMs (${antiEntropy.confirmDelayMs})`,
    );
  }
  return {
    libraryFile: config.libraryFile,
    listen,
    peers,
    metrics,
    batchSize,
    originFilter: config.originFilter ?? true,
    relayHoldMs,
    maxDriftMs: config.maxDriftMs,
    reconnect: { initialMs, maxMs },
    insecure: config.insecure,
    credentialsDir: config.credentialsDir,
    membershipCheckMs,
    connections,
    antiEntropy,
    fallbackPollMs,
    databaseConnections,
  };
}
