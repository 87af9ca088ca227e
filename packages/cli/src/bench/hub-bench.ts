/**
 * `npm run bench -- --hub`: one library served by 1 and 2 `tidemark node` processes to many
 * concurrent followers (real gRPC clients in a few child processes, each a member device with
 * its own certificate and TLS connection). Each follower backfills one location, then follows
 * every type while a writer commits. Measured per run: rows/s served, CPU per row served per
 * node process, follow latency, RSS, memory per idle follow stream and (PostgreSQL) server
 * connections. The SQLite node is the baseline for the PostgreSQL hub.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FieldsOf, Library, readResourceHeads } from '@tidemark/engine';
import { sampleRecords } from '@tidemark/engine/testing';
import { Entry } from '@tidemark/proto';
import { freePort } from '../free-port';
import { formatTable } from '../output';
import { BenchOptions, HubBenchOptions } from './args';
import {
  admitFollowers,
  FollowerIdentity,
  followerSpecs,
  HubLibrary,
  HubShape,
  followerIdentities,
  prepareSqliteHub,
} from './hub-library';
import { BackendCpu } from './backend-cpu';
import { HubLoad } from './hub-load';
import { preparePostgresHub } from './hub-postgres';
import { MARK, monotonicMs, SliceResult } from './hub-protocol';
import { metricOf, NodeProcess, scrapeMetrics } from './node-process';
import { tcpConnectionsOf } from './tcp-connections';
import { cpuBetween, readThreadCpu, ThreadCpu } from './thread-cpu';

const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Let RSS settle after a phase before it is read (GC, freed buffers). */
const SETTLE_MS = 3_000;
/** How long the follow phase waits for the last commits to reach every follower. */
const FOLLOW_DRAIN_MS = 60_000;

interface ProcessFigures {
  readonly name: string;
  /** Rows and tombstones this process handed to streams during the backfill (its own counter). */
  readonly rowsServed: number;
  readonly cpuBackfill: ThreadCpu | undefined;
  /** CPU seconds per row served, in µs. */
  readonly cpuMicrosPerRow: number;
  /** PostgreSQL: the CPU its backends spent for this process during the backfill. */
  readonly databaseCpuBackfill: { readonly seconds: number; readonly backends: number } | undefined;
  /** (process + its database backends) CPU per row served, in µs; equals cpuMicrosPerRow on SQLite. */
  readonly cpuWithDatabaseMicrosPerRow: number;
  readonly cpuFollow: ThreadCpu | undefined;
  readonly rssStart: number;
  readonly rssConnected: number;
  readonly rssIdleFollowing: number;
  readonly rssPeak: number;
  /** V8 heap in use (nodejs_heap_size_used_bytes) with the connections only, and with idle streams. */
  readonly heapConnected: number;
  readonly heapIdleFollowing: number;
  readonly followers: number;
  /** (RSS with every follow stream open and idle − RSS with the connections only) ÷ streams. */
  readonly idleBytesPerStream: number;
  /** (RSS with every follow stream open and idle − RSS before any follower) ÷ followers. */
  readonly idleBytesPerFollower: number;
}

interface FollowFigures {
  readonly commits: number;
  readonly ratePerSecond: number;
  readonly deliveries: number;
  readonly expectedDeliveries: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The warm-up commit's latency, slowest follower: what a follow stream's start adds. */
  readonly firstCommitMaxMs: number;
}

interface RunResult {
  readonly store: HubLibrary['store'];
  readonly processes: number;
  readonly followers: number;
  readonly backfillSeconds: number;
  readonly rowsServed: number;
  /**
   * Rows the followers took from their slices. The rest of rowsServed is the pages a node read
   * and sent ahead (at most MAX_BUFFERED_BATCHES + 1 per stream) before a follower's cancel at
   * the end of its location arrived: work done, so it counts in CPU per row served.
   */
  readonly rowsReceived: number;
  readonly rowsPerSecond: number;
  /** All node processes' CPU during the backfill ÷ rows served, in µs. */
  readonly cpuMicrosPerRow: number;
  /** The same with the database backends' CPU added (PostgreSQL); equal to it on SQLite. */
  readonly cpuWithDatabaseMicrosPerRow: number;
  readonly perProcess: readonly ProcessFigures[];
  readonly slices: {
    readonly slowestMs: number;
    readonly medianMs: number;
    /** The smallest share of one location among any follower's entries (1: one location each). */
    readonly minMainLocationShare: number;
  };
  readonly follow: FollowFigures;
  readonly loadGeneratorCpu: number | undefined;
  /**
   * The followers' first handshakes (each reads every type's head, row and tombstone counts
   * included): wall time for all of them, and the node processes' CPU over that time.
   */
  readonly handshakes: {
    readonly count: number;
    readonly seconds: number;
    readonly nodeCpuSeconds: number;
    /** Handshakes that failed UNAVAILABLE (the node dropped the connection) and were retried. */
    readonly retries: number;
  };
  /**
   * Each node process's connections to the database server (PostgreSQL): with idle follow
   * streams, and halfway through the follow phase.
   */
  readonly databaseConnections: { readonly idle?: number[]; readonly following?: number[] };
  readonly loadAverage: { readonly before: number; readonly after: number };
}

function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function changed(entry: Entry, index: number): FieldsOf<'entry'> {
  return {
    uuid: entry.uuid,
    deviceUuid: entry.deviceUuid,
    locationUuid: entry.locationUuid,
    parentUuid: entry.parentUuid,
    relativePath: entry.relativePath,
    kind: entry.kind,
    sizeBytes: MARK + index,
    modifiedAtMs: entry.modifiedAtMs + 1,
    contentUuid: entry.contentUuid,
  };
}

async function servedRows(node: { metricsPort: number }): Promise<number> {
  return metricOf(await scrapeMetrics(node.metricsPort), 'tidemark_rows_served_total');
}

async function heapUsed(node: { metricsPort: number }): Promise<number> {
  return metricOf(await scrapeMetrics(node.metricsPort), 'nodejs_heap_size_used_bytes');
}

const sumCpu = (cpu: ThreadCpu | undefined) => (cpu ? cpu.main + cpu.other : NaN);

function databaseConnections(
  hub: HubLibrary,
  nodes: readonly { process: NodeProcess }[],
): number[] | undefined {
  if (hub.databasePort === undefined) return undefined;
  return nodes.map((node) => tcpConnectionsOf(node.process.pid, hub.databasePort!) ?? NaN);
}

/**
 * Single-entry commits at `rate` per second for `seconds`, each marked with its index, while
 * every follower follows; a commit's latency to a follower runs from the write returning here
 * to the follower's process receiving the batch (one monotonic clock for the machine).
 */
async function followPhase(
  library: Library,
  load: HubLoad,
  followers: number,
  seconds: number,
  rate: number,
  duringFollow: () => void,
): Promise<FollowFigures> {
  const count = Math.max(1, Math.round(seconds * rate));
  const rows = await sampleRecords(library, 'entry', Math.min(count, 10_000));
  await load.follow(library.identity.epoch, await readResourceHeads(library));
  // A follower is told it is following once every type caught up; the node then starts each
  // type's follow stream (a few queries each, 9 types x every follower). One warm-up commit,
  // delivered by the entry follow streams, shows they all run: the timed commits measure
  // following, its latency the start's cost (reported apart).
  const warmUp = count;
  await library.write((tx) => tx.put('entry', changed(rows[count % rows.length], warmUp)));
  const warmUpAt = monotonicMs();
  const warmUpDeadline = Date.now() + FOLLOW_DRAIN_MS;
  while (!(await load.arrivals()).every((n) => n >= 1) && Date.now() <= warmUpDeadline) await sleep(50);
  const committedAt: number[] = [];
  const start = monotonicMs();
  let sampled = false;
  for (let index = 0; index < count; index++) {
    const wait = start + (index * 1000) / rate - monotonicMs();
    if (wait > 0) await sleep(wait);
    await library.write((tx) => tx.put('entry', changed(rows[index % rows.length], index)));
    committedAt[index] = monotonicMs();
    if (!sampled && index >= count / 2) {
      sampled = true;
      duringFollow();
    }
  }
  const ratePerSecond = count / Math.max(0.001, (committedAt[count - 1] - start) / 1000);
  const deadline = Date.now() + FOLLOW_DRAIN_MS;
  for (;;) {
    const arrived = await load.arrivals();
    if (arrived.every((n) => n >= count + 1) || Date.now() > deadline) break;
    await sleep(250);
  }
  const arrivals = await load.stopFollow();
  const latencies: number[] = [];
  let firstCommitMaxMs = 0;
  for (const perFollower of arrivals) {
    for (const [index, at] of perFollower) {
      if (committedAt[index] !== undefined) latencies.push(at - committedAt[index]);
      if (index === warmUp) firstCommitMaxMs = Math.max(firstCommitMaxMs, at - warmUpAt);
    }
  }
  latencies.sort((a, b) => a - b);
  return {
    commits: count,
    ratePerSecond,
    deliveries: latencies.length,
    expectedDeliveries: count * followers,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies[latencies.length - 1] ?? NaN,
    firstCommitMaxMs,
  };
}

async function runOnce(
  hub: HubLibrary,
  processes: number,
  identities: readonly FollowerIdentity[],
  options: BenchOptions,
  hubOptions: HubBenchOptions,
  log: (text: string) => void,
): Promise<RunResult> {
  const loadBefore = os.loadavg()[0];
  const nodes: { process: NodeProcess; port: number; metricsPort: number }[] = [];
  let load: HubLoad | undefined;
  const writer = await hub.open();
  try {
    for (let index = 0; index < processes; index++) {
      const port = await freePort();
      const metricsPort = await freePort();
      const child = await NodeProcess.start(
        `${hub.store}-${index + 1}/${processes}`,
        {
          library: hub.libraryArg,
          port,
          metricsPort,
          batchSize: 0,
          secure: true,
          extra: hub.nodeArgs,
        },
        options.cpuProfDir,
      );
      nodes.push({ process: child, port, metricsPort });
    }
    await sleep(SETTLE_MS);
    const rssStart = nodes.map((node) => node.process.rssBytes());
    const specs = followerSpecs(
      identities,
      hub.slices,
      nodes.map((node) => `127.0.0.1:${node.port}`),
    );
    const perProcess = nodes.map((_, at) => specs.filter((spec) => spec.index % processes === at).length);
    log(`${hub.store} x${processes}: ${identities.length} followers connecting`);
    const cpuBeforeConnect = nodes.map((node) => readThreadCpu(node.process.pid));
    const connectStarted = monotonicMs();
    load = await HubLoad.start(
      hubOptions.loadProcesses,
      hub.libraryId,
      hub.credentials.certificate.pem,
      specs,
    );
    const handshakes = {
      count: identities.length,
      retries: load.handshakeRetries,
      seconds: (monotonicMs() - connectStarted) / 1000,
      nodeCpuSeconds: nodes.reduce(
        (sum, node, at) => sum + sumCpu(cpuBetween(cpuBeforeConnect[at], readThreadCpu(node.process.pid))),
        0,
      ),
    };
    log(
      `${hub.store} x${processes}: ${handshakes.count} handshakes in ${handshakes.seconds.toFixed(1)} s, ${handshakes.nodeCpuSeconds.toFixed(1)} s of node CPU, ${handshakes.retries} retried`,
    );
    await sleep(SETTLE_MS);
    const rssConnected = nodes.map((node) => node.process.rssBytes());
    const heapConnected = await Promise.all(nodes.map(heapUsed));
    log(`${hub.store} x${processes}: idle follow streams`);
    await load.follow(writer.identity.epoch, await readResourceHeads(writer));
    await sleep(SETTLE_MS);
    const rssIdleFollowing = nodes.map((node) => node.process.rssBytes());
    const heapIdleFollowing = await Promise.all(nodes.map(heapUsed));
    const idleConnections = databaseConnections(hub, nodes);
    await load.stopFollow();

    log(`${hub.store} x${processes}: backfill, one location per follower`);
    const cpuBefore = nodes.map((node) => readThreadCpu(node.process.pid));
    const loadCpuBefore = load.pids.map((pid) => readThreadCpu(pid));
    const servedBefore = await Promise.all(nodes.map(servedRows));
    const backends = nodes.map((node) =>
      hub.databasePort === undefined ? undefined : new BackendCpu(node.process.pid, hub.databasePort).start(),
    );
    const started = monotonicMs();
    const sliceResults: SliceResult[] = await load.backfill(0);
    const backfillSeconds = (monotonicMs() - started) / 1000;
    const databaseCpu = backends.map((backend) => backend?.stop());
    const cpuBackfill = nodes.map((node, at) => cpuBetween(cpuBefore[at], readThreadCpu(node.process.pid)));
    const loadCpu = load.pids.map((pid, at) => cpuBetween(loadCpuBefore[at], readThreadCpu(pid)));
    const servedAfter = await Promise.all(nodes.map(servedRows));
    const served = servedAfter.map((after, at) => after - servedBefore[at]);
    const rowsServed = served.reduce((sum, n) => sum + n, 0);
    log(`${hub.store} x${processes}: backfill ${backfillSeconds.toFixed(1)} s, ${rowsServed} rows served`);

    log(`${hub.store} x${processes}: follow, ${options.followRate} commits/s for ${options.followSeconds} s`);
    const cpuFollowBefore = nodes.map((node) => readThreadCpu(node.process.pid));
    let followingConnections: number[] | undefined;
    const follow = await followPhase(
      writer,
      load,
      identities.length,
      options.followSeconds,
      options.followRate,
      () => {
        followingConnections = databaseConnections(hub, nodes);
      },
    );
    const cpuFollow = nodes.map((node, at) =>
      cpuBetween(cpuFollowBefore[at], readThreadCpu(node.process.pid)),
    );
    log(
      `${hub.store} x${processes}: follow p50 ${follow.p50Ms.toFixed(1)} ms, p99 ${follow.p99Ms.toFixed(1)} ms, ${follow.deliveries}/${follow.expectedDeliveries} delivered; warm-up commit (follow streams starting) ${follow.firstCommitMaxMs.toFixed(0)} ms at the slowest follower`,
    );

    const figures = nodes.map((node, at): ProcessFigures => ({
      name: node.process.name,
      rowsServed: served[at],
      cpuBackfill: cpuBackfill[at],
      cpuMicrosPerRow: (sumCpu(cpuBackfill[at]) / served[at]) * 1e6,
      databaseCpuBackfill: databaseCpu[at],
      cpuWithDatabaseMicrosPerRow:
        ((sumCpu(cpuBackfill[at]) + (databaseCpu[at]?.seconds ?? 0)) / served[at]) * 1e6,
      cpuFollow: cpuFollow[at],
      rssStart: rssStart[at],
      rssConnected: rssConnected[at],
      rssIdleFollowing: rssIdleFollowing[at],
      rssPeak: node.process.peakRssBytes(),
      heapConnected: heapConnected[at],
      heapIdleFollowing: heapIdleFollowing[at],
      followers: perProcess[at],
      idleBytesPerStream: (rssIdleFollowing[at] - rssConnected[at]) / perProcess[at],
      idleBytesPerFollower: (rssIdleFollowing[at] - rssStart[at]) / perProcess[at],
    }));
    const sliceMs = sliceResults.map((slice) => slice.ms).sort((a, b) => a - b);
    const totalCpu = cpuBackfill.reduce((sum, cpu) => sum + sumCpu(cpu), 0);
    return {
      store: hub.store,
      processes,
      followers: identities.length,
      backfillSeconds,
      rowsServed,
      rowsReceived: sliceResults.reduce((sum, slice) => sum + slice.rows, 0),
      rowsPerSecond: rowsServed / backfillSeconds,
      cpuMicrosPerRow: (totalCpu / rowsServed) * 1e6,
      cpuWithDatabaseMicrosPerRow:
        ((totalCpu + databaseCpu.reduce((sum, cpu) => sum + (cpu?.seconds ?? 0), 0)) / rowsServed) * 1e6,
      perProcess: figures,
      slices: {
        slowestMs: sliceMs[sliceMs.length - 1],
        medianMs: percentile(sliceMs, 50),
        minMainLocationShare: Math.min(...sliceResults.map((slice) => slice.mainLocationShare)),
      },
      follow,
      handshakes,
      loadGeneratorCpu: loadCpu.every((cpu) => cpu)
        ? loadCpu.reduce((sum, cpu) => sum + sumCpu(cpu), 0)
        : undefined,
      databaseConnections: { idle: idleConnections, following: followingConnections },
      loadAverage: { before: loadBefore, after: os.loadavg()[0] },
    };
  } finally {
    await load?.close();
    for (const node of nodes) await node.process.stop();
    await writer.close();
  }
}

export async function runHubBench(options: BenchOptions): Promise<void> {
  const hubOptions = options.hub!;
  const shape: HubShape = { volumes: 5, locations: hubOptions.followers, entries: options.entries };
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-hub-'));
  const log = (text: string) => process.stderr.write(`bench: ${text}\n`);
  const stores: (() => Promise<HubLibrary>)[] = [];
  if (!hubOptions.skipSqlite) stores.push(() => prepareSqliteHub(workDir, shape, options.fresh, log));
  const database = hubOptions.database;
  if (database) stores.push(() => preparePostgresHub(database, shape, options.fresh, log));
  if (!stores.length) throw new Error('--skip-sqlite needs --database');
  const results: RunResult[] = [];
  try {
    log(
      `work dir ${workDir}; load average ${os
        .loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')}`,
    );
    const identities = followerIdentities(hubOptions.followers);
    for (const prepare of stores) {
      const hub = await prepare();
      const library = await hub.open();
      try {
        const members = await admitFollowers(library, hub.credentials, identities);
        log(`${hub.store}: ${members} active members (the followers and the hub)`);
      } finally {
        await library.close();
      }
      for (const processes of hubOptions.processes) {
        results.push(await runOnce(hub, processes, identities, options, hubOptions, log));
      }
    }
  } finally {
    for (const node of NodeProcess.started) await node.stop('SIGKILL');
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  report(results, options, hubOptions);
}

function report(results: readonly RunResult[], options: BenchOptions, hubOptions: HubBenchOptions): void {
  const baseline = results.find((result) => result.store === 'sqlite' && result.processes === 1);
  const machine = {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadAverageAtEnd: os.loadavg(),
  };
  const out = options.out === 'bench/results/latest.json' ? 'bench/results/hub.json' : options.out;
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(
    out,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        machine,
        entries: options.entries,
        followers: hubOptions.followers,
        followRate: options.followRate,
        followSeconds: options.followSeconds,
        method:
          "each follower: a member device (own P-256 certificate, ADD signed by the hub), own mutual-TLS connection; backfills membership, device, volume and location from 0 and the entries of one location (its run of seqs), cancelling at its end; then follows every type from the heads. Rows served: the node processes' tidemark_rows_served_total. CPU: /proc/<pid>/task/*/stat of each node process. Latency: writer commit returned (bench process) to batch received (follower process), CLOCK_MONOTONIC.",
        results,
      },
      null,
      2,
    ) + '\n',
  );
  const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  const rows = results.map((result) => [
    `${result.store} x${result.processes}`,
    `${Math.round(result.rowsServed).toLocaleString('en-US')} in ${result.backfillSeconds.toFixed(1)} s = ${Math.round(result.rowsPerSecond).toLocaleString('en-US')}/s (${Math.round(result.rowsReceived).toLocaleString('en-US')} in slices)`,
    `${result.cpuMicrosPerRow.toFixed(1)} (${result.perProcess.map((p) => p.cpuMicrosPerRow.toFixed(1)).join(' / ')})` +
      (baseline && result !== baseline
        ? ` = ${(result.cpuMicrosPerRow / baseline.cpuMicrosPerRow).toFixed(2)}x`
        : ''),
    result.store === 'postgres'
      ? `${result.cpuWithDatabaseMicrosPerRow.toFixed(1)}` +
        (baseline ? ` = ${(result.cpuWithDatabaseMicrosPerRow / baseline.cpuMicrosPerRow).toFixed(2)}x` : '')
      : '-',
    `${result.follow.p50Ms.toFixed(0)} / ${result.follow.p99Ms.toFixed(0)} / ${result.follow.maxMs.toFixed(0)} ms (${result.follow.deliveries}/${result.follow.expectedDeliveries})`,
    result.perProcess.map((p) => `${mb(p.rssIdleFollowing)} (peak ${mb(p.rssPeak)})`).join(' / '),
    result.perProcess
      .map(
        (p) =>
          `${kb(p.idleBytesPerStream)} (heap ${kb((p.heapIdleFollowing - p.heapConnected) / p.followers)}; ${kb(p.idleBytesPerFollower)} with its connection)`,
      )
      .join(' / '),
    result.databaseConnections.idle === undefined
      ? '-'
      : `${result.databaseConnections.idle.join('+')} / ${result.databaseConnections.following?.join('+') ?? '?'}`,
    `${((result.handshakes.nodeCpuSeconds / result.handshakes.count) * 1000).toFixed(0)} ms`,
    `${result.loadAverage.before.toFixed(1)} -> ${result.loadAverage.after.toFixed(1)}`,
  ]);
  process.stdout.write(
    formatTable(
      [
        'run',
        'rows served (backfill)',
        'node CPU µs/row (per process)',
        'with PostgreSQL backends',
        'follow p50/p99/max',
        'RSS idle-following (peak)',
        'RSS per idle follow stream',
        'db conns per process idle/following',
        'node CPU per handshake',
        'load avg',
      ],
      rows,
    ) +
      `\n\n${hubOptions.followers} followers, ${options.entries.toLocaleString('en-US')} entries, ${options.followRate} commits/s for ${options.followSeconds} s; ${machine.cores} cores (${machine.cpu})` +
      `\nshare of one location in each follower's backfill: at least ${(Math.min(...results.map((result) => result.slices.minMainLocationShare)) * 100).toFixed(1)} %` +
      `\nresults: ${out}\n`,
  );
}
