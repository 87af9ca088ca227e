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
  --index                the indexing bench instead (--index --help for its options)`;

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
  return {
    entries: int('--entries', 200_000),
    volumes: 5,
    locations: 100,
    batchSize: int('--batch-size', 0, 0),
    followSeconds: int('--follow-seconds', 30, 0),
    followRate: int('--follow-rate', 100),
    incrementalChanges: int('--changes', 1_000),
    skipGrowth: argv.includes('--skip-growth'),
    skipResume: argv.includes('--skip-resume'),
    fresh: argv.includes('--fresh'),
    cpuProfDir: raw('--cpu-prof'),
    out: raw('--out') ?? 'bench/results/latest.json',
    mesh: raw('--mesh') === undefined ? undefined : int('--mesh', 2, 2),
    originFilter: !argv.includes('--no-origin-filter'),
  };
}
