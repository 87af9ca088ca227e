import { isDatabaseUrl } from '@tidemark/engine';

export interface BenchOptions {
  /** Entries in A's library for the main runs. */
  readonly entries: number;
  readonly volumes: number;
  readonly locations: number;
  /** Batch size B asks for; 0 = the node's default. */
  readonly batchSize: number;
  readonly followSeconds: number;
  readonly followRate: number;
  readonly incrementalChanges: number;
  readonly skipGrowth: boolean;
  readonly skipResume: boolean;
  /** Regenerate A's library instead of reusing the cached copy for this size. */
  readonly fresh: boolean;
  /** When set, node processes write .cpuprofile files here. */
  readonly cpuProfDir: string | undefined;
  readonly out: string;
  /** `--mesh N`: the mesh bench with N devices instead of the two-node runs. */
  readonly mesh: number | undefined;
  /** `--no-origin-filter`: the mesh's nodes ask for every row (the "before" figures). */
  readonly originFilter: boolean;
  /** `--rewind`: the price of a same-epoch restore (rewind.ts) instead of the two-node runs. */
  readonly rewind: boolean;
  /** `--relay-hold-ms MS`: passed to the mesh's nodes (their default when absent). */
  readonly relayHoldMs: number | undefined;
  /** `--hub`: the hub bench (hub-bench.ts) instead of the two-node runs. */
  readonly hub: HubBenchOptions | undefined;
}

export interface HubBenchOptions {
  /** Concurrent followers; the library has one location per follower. */
  readonly followers: number;
  /** Node processes to measure, one run each (e.g. [1, 2]). */
  readonly processes: readonly number[];
  /** Child processes the followers are spread over. */
  readonly loadProcesses: number;
  /** `--database URL`: also measure a hub on this PostgreSQL server (in a schema of its own). */
  readonly database: string | undefined;
  /** Skip the SQLite baseline (only with --database). */
  readonly skipSqlite: boolean;
}

const HELP = `usage: npm run bench -- [options]
  --entries N            entries in A's library (default 200000; the full run is 1000000)
  --batch-size N         rows per batch B asks for (default 0: the node's default)
  --follow-seconds S     length of the follow-latency phase (default 30)
  --follow-rate R        single-row commits per second on A while B follows (default 100)
  --changes N            entries changed for the incremental phase (default 1000)
  --skip-growth          skip the memory-growth run at N/10
  --skip-resume          skip the kill-and-resume run
  --fresh                regenerate A's library (it is cached per size in the temp dir)
  --cpu-prof DIR         run the node processes with --cpu-prof into DIR
  --out FILE             JSON results (default bench/results/latest.json)
  --mesh N               instead: N devices, each with --entries of its own, nodes in a full mesh;
                         rows received per device / rows it needed, wall time and CPU, for a
                         backfill (all populated, then started) and for live writes (every
                         device writes --entries more while the nodes run)
  --no-origin-filter     with --mesh: nodes ask for every row (the figures before origin filters)
  --relay-hold-ms MS     with --mesh: the nodes' --relay-hold-ms (0: relays pass rows on at once)
  --index                the indexing bench instead (--index --help for its options)
  --rewind               instead: the price of a restore that keeps the epoch: A (--entries) and
                         B and C in a full mesh; A's library.db and history mark copied back from a
                         backup taken before --changes entries changed; rows B and C receive from
                         A (the reset) and from each other (the rewind), and seconds to settle
  --hub                  instead: a library of --entries entries (default 1000000) in one location per
                         follower, served by 1 and then 2 node processes to --followers concurrent
                         followers (real gRPC clients, member certificates, mutual TLS), each
                         backfilling its location and then following while a writer commits
                         (--follow-rate commits/s, default 10, for --follow-seconds, default 20);
                         rows/s, CPU per row served, follow p99, RSS, memory per idle stream
  --followers N          with --hub: concurrent followers (default 200)
  --processes LIST       with --hub: node process counts to run, comma separated (default 1,2)
  --load-processes N     with --hub: child processes the followers are spread over (default 2)
  --database URL         with --hub: also run the hub on PostgreSQL (postgres://USER@HOST:PORT/DB; the
                         library goes into a schema of its own there, kept for the next run); the
                         SQLite node is the baseline
  --skip-sqlite          with --hub --database: the PostgreSQL runs only`;

export function parseBenchArgs(argv: readonly string[]): BenchOptions | undefined {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP + '\n');
    return undefined;
  }
  const raw = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    return at < 0 ? undefined : argv[at + 1];
  };
  const int = (flag: string, fallback: number, min = 1): number => {
    const text = raw(flag);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < min)
      throw new Error(`${flag} needs an integer >= ${min}, got "${text}"`);
    return value;
  };
  const hub = argv.includes('--hub');
  const processes = (raw('--processes') ?? '1,2').split(',').map((text) => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 1 || value > 16)
      throw new Error(`--processes needs integers from 1 to 16, comma separated, got "${text}"`);
    return value;
  });
  const database = raw('--database');
  if (database !== undefined && !isDatabaseUrl(database))
    throw new Error(`--database needs a postgres:// URL, got "${database}"`);
  return {
    entries: int('--entries', hub ? 1_000_000 : 200_000),
    volumes: 5,
    locations: 100,
    batchSize: int('--batch-size', 0, 0),
    followSeconds: int('--follow-seconds', hub ? 20 : 30, 0),
    followRate: int('--follow-rate', hub ? 10 : 100),
    incrementalChanges: int('--changes', 1_000),
    skipGrowth: argv.includes('--skip-growth'),
    skipResume: argv.includes('--skip-resume'),
    fresh: argv.includes('--fresh'),
    cpuProfDir: raw('--cpu-prof'),
    out: raw('--out') ?? 'bench/results/latest.json',
    mesh: raw('--mesh') === undefined ? undefined : int('--mesh', 2, 2),
    originFilter: !argv.includes('--no-origin-filter'),
    rewind: argv.includes('--rewind'),
    relayHoldMs: raw('--relay-hold-ms') === undefined ? undefined : int('--relay-hold-ms', 0, 0),
    hub: hub
      ? {
          followers: int('--followers', 200),
          processes,
          loadProcesses: int('--load-processes', 2),
          database,
          skipSqlite: argv.includes('--skip-sqlite'),
        }
      : undefined,
  };
}
