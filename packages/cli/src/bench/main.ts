/**
 * `npm run bench [-- --entries 1000000]`: real `tidemark node` processes over gRPC on 127.0.0.1.
 * Floor (sqlite3 shell copy), full backfill, kill-and-resume, incremental catch-up, follow
 * latency and memory growth (peak RSS at N/10 and N); a table on stdout and every figure in
 * bench/results/latest.json. `--help` lists the options.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CommitIdWork, Library } from '@tidemark/engine';
import { CommitIdUnitCost, measureCommitIdUnitCost, sqliteVersion } from '@tidemark/engine/testing';
import { PEER_SESSION_BATCH_SIZE } from '@tidemark/node';
import { formatTable } from '../output';
import { BenchOptions, parseBenchArgs } from './args';
import { FloorResult, measureFloor } from './floor';
import { parseIndexBenchArgs, runIndexBench } from './index-bench';
import { followInProcess } from './in-process-follow';
import { prepareSource } from './libraries';
import { cpuBetween, readThreadCpu, ThreadCpu } from './thread-cpu';
import { CommitIdShare, commitIdShare, spentBetween, spentBy, spentHere } from './commit-id-share';
import { runMesh } from './mesh';
import { runHubBench } from './hub-bench';
import { runRewind } from './rewind';
import { NodeProcess } from './node-process';
import {
  BackfillResult,
  FollowResult,
  followLatency,
  fullBackfill,
  incremental,
  IncrementalResult,
  PhaseCommitIds,
  resume,
  ResumeResult,
  startServer,
  VISIBILITY_POLL_MS,
} from './scenarios';

interface GrowthResult {
  readonly smallEntries: number;
  readonly largeEntries: number;
  readonly small: { readonly peakRssA: number; readonly peakRssB: number; readonly rowsPerSecond: number };
  readonly large: { readonly peakRssA: number; readonly peakRssB: number };
  readonly growthA: number;
  readonly growthB: number;
}

const MB = 1024 * 1024;
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
const num = (n: number) => Math.round(n).toLocaleString('en-US');
const secs = (s: number) => (s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`);
const cpu = (used: ThreadCpu) => `${used.main.toFixed(1)} + ${used.other.toFixed(1)} s`;
const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
const pct3 = (x: number) => `${(x * 100).toFixed(3)} %`;

/** One line of the table: the check's CPU against the phase's CPU and wall time, and the mark's. */
function commitIdLine(share: CommitIdShare): string {
  const count = (work: CommitIdWork) =>
    Object.values(share.byProcess).reduce((sum, spend) => sum + spend.count[work], 0);
  return (
    `${secs(share.checkCpuSeconds)} CPU` +
    (share.checkShareOfCpu !== undefined
      ? ` = ${pct3(share.checkShareOfCpu)} of the processes' ${secs(share.cpuSeconds!)}`
      : '') +
    `, ${pct3(share.checkShareOfWall)} of ${secs(share.phaseSeconds)} wall` +
    ` (${num(count('record'))} commit rows, ${num(count('checkpoint'))} checkpoint and ${num(count('resume'))} cursor lookups)` +
    `; history mark ${secs(share.markCpuSeconds)} (${num(count('mark'))} writes)`
  );
}

/** The unit costs, measured on a scratch copy of `file` (its node stopped) in `workDir`. */
async function commitIdUnitCost(file: string, workDir: string): Promise<CommitIdUnitCost> {
  const copy = path.join(workDir, 'commit-id-unit-cost', path.basename(file));
  fs.mkdirSync(path.dirname(copy), { recursive: true });
  for (const suffix of ['', '-wal', '.history'])
    if (fs.existsSync(file + suffix)) fs.copyFileSync(file + suffix, copy + suffix);
  try {
    return await measureCommitIdUnitCost(copy);
  } finally {
    fs.rmSync(path.dirname(copy), { recursive: true, force: true });
  }
}

async function engineSqliteVersion(file: string): Promise<string> {
  const library = await Library.open(file);
  try {
    return await sqliteVersion(library);
  } finally {
    await library.close();
  }
}

async function run(options: BenchOptions): Promise<void> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-'));
  if (options.cpuProfDir) fs.mkdirSync(options.cpuProfDir, { recursive: true });
  const shape = { volumes: options.volumes, locations: options.locations, entries: options.entries };
  const log = (text: string) => process.stderr.write(`bench: ${text}\n`);
  try {
    log(`work dir ${workDir}`);
    const source = await prepareSource(workDir, 'a', shape, options.fresh);
    log(
      `A: ${num(source.rows)} rows (${source.cached ? 'cached' : `generated in ${secs(source.generateSeconds ?? 0)}`})`,
    );

    log('floor: sqlite3 ATTACH + INSERT ... SELECT, 3 runs');
    const floor: FloorResult = measureFloor(source.file, workDir);
    if (!floor.available) log(floor.message ?? 'no floor');

    log('full backfill');
    const server = await startServer(source, options);
    const backfill = await fullBackfill(server, source, workDir, 'b', options);
    const full: BackfillResult = backfill.result;
    log(`full backfill: ${secs(full.seconds)}, ${num(full.rowsPerSecond)} rows/s`);

    const aLibrary = await Library.open(source.file);
    const bLibrary = await Library.open(backfill.bFile);
    let incr: IncrementalResult;
    let follow: FollowResult | undefined;
    let followOwn: FollowResult | undefined;
    let followCommitIds: PhaseCommitIds | undefined;
    let followPhaseSeconds = 0;
    try {
      log(`incremental: ${options.incrementalChanges} entries change on A`);
      incr = await incremental(aLibrary, bLibrary, options.incrementalChanges, full.seconds);
      if (options.followSeconds > 0) {
        const spentBefore = {
          writer: spentHere(),
          A: await spentBy(server.metricsPort),
          B: await spentBy(backfill.bMetricsPort),
        };
        const cpuBefore = {
          a: readThreadCpu(server.node.pid),
          b: readThreadCpu(backfill.b.pid),
          here: process.cpuUsage(),
        };
        log(`follow: ${options.followRate} commits/s for ${options.followSeconds} s`);
        const followStart = performance.now();
        follow = await followLatency(aLibrary, bLibrary, options.followSeconds, options.followRate);
        log(`follow, in-process: the same, written by a node in the bench process that B follows`);
        followOwn = await followInProcess(
          source.file,
          backfill.proxy,
          server.port,
          backfill.b,
          bLibrary,
          options.followSeconds,
          options.followRate,
        );
        followPhaseSeconds = (performance.now() - followStart) / 1000;
        // The writer is the bench process (Library.write on A's file, then a node of its own).
        const byProcess = {
          writer: spentBetween(spentBefore.writer, spentHere()),
          A: spentBetween(spentBefore.A, await spentBy(server.metricsPort)),
          B: spentBetween(spentBefore.B, await spentBy(backfill.bMetricsPort)),
        };
        const cpuA = cpuBetween(cpuBefore.a, readThreadCpu(server.node.pid));
        const cpuB = cpuBetween(cpuBefore.b, readThreadCpu(backfill.b.pid));
        const here = process.cpuUsage(cpuBefore.here);
        // The writer and, in-process, A's node run in the bench process, so its CPU counts too
        // (with its poll of B's file every 2 ms).
        followCommitIds = {
          byProcess,
          cpuSeconds:
            cpuA && cpuB
              ? cpuA.main + cpuA.other + cpuB.main + cpuB.other + (here.user + here.system) / 1e6
              : undefined,
        };
      }
    } finally {
      await aLibrary.close();
      await bLibrary.close();
    }
    const peakAfterFollow = { a: server.node.peakRssBytes(), b: backfill.b.peakRssBytes() };
    await backfill.b.stop();
    await backfill.proxy.close();
    log("commit-id check: the CPU of each piece, on a copy of B's file");
    const unitCost = await commitIdUnitCost(backfill.bFile, workDir);

    let resumed: ResumeResult | undefined;
    if (!options.skipResume) {
      log('resume: SIGKILL at half way, then restart');
      resumed = await resume(server, source, workDir, options, options.batchSize || PEER_SESSION_BATCH_SIZE);
    }
    await server.node.stop();

    let growth: GrowthResult | undefined;
    if (!options.skipGrowth) {
      const smallEntries = Math.max(1, Math.round(options.entries / 10));
      log(`growth: backfill at ${num(smallEntries)} entries`);
      const small = await prepareSource(
        workDir,
        'a-small',
        { ...shape, entries: smallEntries },
        options.fresh,
      );
      const smallServer = await startServer(small, options, 'A-small');
      const smallRun = await fullBackfill(smallServer, small, workDir, 'b-small', options);
      await smallRun.b.stop();
      await smallRun.proxy.close();
      await smallServer.node.stop();
      const s = smallRun.result;
      growth = {
        smallEntries,
        largeEntries: options.entries,
        small: { peakRssA: s.peakRssA, peakRssB: s.peakRssB, rowsPerSecond: s.rowsPerSecond },
        large: { peakRssA: full.peakRssA, peakRssB: full.peakRssB },
        growthA: full.peakRssA / s.peakRssA - 1,
        growthB: full.peakRssB / s.peakRssB - 1,
      };
    }

    const share = (phaseSeconds: number, phase: PhaseCommitIds) =>
      commitIdShare(phaseSeconds, phase.cpuSeconds, phase.byProcess, unitCost);
    const backfillShare = share(full.seconds, full.commitIds);
    const followShare = followCommitIds ? share(followPhaseSeconds, followCommitIds) : undefined;
    const resumeShare = resumed ? share(resumed.secondsToFinish, resumed.commitIds) : undefined;

    const machine = {
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      memoryBytes: os.totalmem(),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      sqliteEngine: await engineSqliteVersion(source.file),
      sqliteCli: floor.sqliteVersion ?? 'not installed',
    };
    const ratioToFloor = floor.available ? full.seconds / floor.seconds : NaN;
    const targets = {
      rowsPerSecondAtLeast150k: full.rowsPerSecond >= 150_000,
      within4xOfFloor: floor.available ? ratioToFloor <= 4 : null,
      peakRssBelow200MB: Math.max(full.peakRssA, full.peakRssB) < 200 * MB,
      rssGrowthBelow20Percent: growth ? Math.max(growth.growthA, growth.growthB) < 0.2 : null,
      incrementalBelow1PercentOfFull: incr.fractionOfFullBackfill < 0.01,
      followP50Below5ms: follow ? follow.p50Ms < 5 : null,
      followP99Below20ms: follow ? follow.p99Ms < 20 : null,
      resentAtMostOneBatchPerType: resumed
        ? Object.values(resumed.rowsSentTwiceByType).every((n) => n <= resumed!.batchSize) &&
          resumed.rowsSentTwice <= resumed.batchSize * Object.keys(resumed.rowsSentTwiceByType).length
        : null,
    };
    const results = {
      at: new Date().toISOString(),
      options: { ...options, cpuProfDir: options.cpuProfDir ?? null },
      machine,
      floor,
      fullBackfill: { ...full, ratioToFloor },
      incremental: incr,
      follow: follow ?? null,
      followInProcess: followOwn ?? null,
      commitIds: {
        unitCost,
        backfill: backfillShare,
        follow: followShare ?? null,
        resume: resumeShare ?? null,
      },
      commitIdMethod:
        "operations each process counted in the phase (tidemark_commit_id_operations_total: commits rows inserted, commit lookups for checkpoints and resuming cursors, history-mark checks and writes; A from just before B starts, B from its spawn) x the CPU one costs, measured after the phases by measureCommitIdUnitCost on a copy of B's file (the bench process's process.cpuUsage over 1000 repetitions; a commits row as write transactions with it minus the same without, so its page's WAL write and checkpoint are in); commit-id form checks timed in the run. Shares: of the node processes' CPU in the phase (/proc, every thread), and of the phase's wall time. The seconds in byProcess are wall time from call to settled promise (latency: waits for the connection and the event loop included), not CPU",
      followMethod: `A's commits are written by the bench process through Library.write (a second process on A's file); B's library_identity.last_seq is read every ${VISIBILITY_POLL_MS} ms on a read connection of the bench process. In-process: the same, with A's file served by a node in the bench process that writes through its own Library, B following it through the same proxy`,
      wireMethod:
        'bytes from A to B through a TCP relay in the bench process: protobuf StateBatches plus gRPC/HTTP2 framing and the handshake',
      peakRssAfterFollow: peakAfterFollow,
      resume: resumed ?? null,
      growth: growth ?? null,
      targets,
    };
    fs.mkdirSync(path.dirname(path.resolve(options.out)), { recursive: true });
    fs.writeFileSync(options.out, JSON.stringify(results, null, 2) + '\n');

    const rows: string[][] = [
      [
        'machine',
        `${machine.cores} cores, node ${machine.node}, sqlite ${machine.sqliteEngine} (cli ${machine.sqliteCli})`,
      ],
      ['library', `5 volumes, 100 locations, ${num(options.entries)} entries = ${num(source.rows)} rows`],
      [
        'batch size (B asks)',
        options.batchSize ? String(options.batchSize) : `node default (${PEER_SESSION_BATCH_SIZE})`,
      ],
      [
        'floor: sqlite3 copy',
        floor.available
          ? `${secs(floor.seconds)}  ${num(floor.rowsPerSecond)} rows/s  (fastest of ${floor.runsSeconds.map(secs).join(', ')})`
          : 'n/a: sqlite3 missing',
      ],
      [
        'full backfill',
        `${secs(full.seconds)}  ${num(full.rowsPerSecond)} rows/s  (${secs(full.secondsFromSpawn)} from spawn)`,
      ],
      ['  ratio to floor', Number.isFinite(ratioToFloor) ? `${ratioToFloor.toFixed(2)}x` : 'n/a'],
      ['  commit-id check', commitIdLine(backfillShare)],
      ['  bytes on the wire', `${mb(full.wireBytes)}  (${full.wireBytesPerRow.toFixed(0)} B/row)`],
      ['  peak RSS A / B', `${mb(full.peakRssA)} / ${mb(full.peakRssB)}`],
      [
        '  peak V8 heap A / B',
        `${mb(full.memoryA.heapTotal)} / ${mb(full.memoryB.heapTotal)}  (reserved; used at most ${mb(full.memoryA.heapUsed)} / ${mb(full.memoryB.heapUsed)})`,
      ],
      [
        '  peak Buffers A / B',
        `${mb(full.memoryA.external)} / ${mb(full.memoryB.external)}  (V8 external memory)`,
      ],
      ...(full.cpuA && full.cpuB
        ? [
            [
              '  CPU A / B',
              `${cpu(full.cpuA)} / ${cpu(full.cpuB)}  (main thread + other threads; ${os.cpus().length} cores x ${secs(full.seconds)} available)`,
            ],
          ]
        : []),
      [
        'incremental',
        `${incr.changes} changes in ${secs(incr.seconds)} = ${pct(incr.fractionOfFullBackfill)} of full`,
      ],
    ];
    const latency = (f: FollowResult) =>
      `${f.commits} commits at ${f.ratePerSecond.toFixed(0)}/s: p50 ${f.p50Ms.toFixed(1)} ms, p99 ${f.p99Ms.toFixed(1)} ms, max ${f.maxMs.toFixed(1)} ms`;
    if (follow) rows.push(['follow latency (other process)', latency(follow)]);
    if (followOwn) rows.push(['  same, in-process commits', latency(followOwn)]);
    if (followShare) rows.push(['  commit-id check, follow', commitIdLine(followShare)]);
    rows.push(['peak RSS A / B (after follow)', `${mb(peakAfterFollow.a)} / ${mb(peakAfterFollow.b)}`]);
    if (resumed) {
      rows.push([
        'resume after SIGKILL',
        `killed at ${num(resumed.heldAfterKill)} rows held; ${num(resumed.rowsSentTwice)} rows sent twice; finished in ${secs(resumed.secondsToFinish)}`,
      ]);
      if (resumeShare) rows.push(['  commit-id check, resumed B', commitIdLine(resumeShare)]);
    }
    if (growth) {
      rows.push([
        `peak RSS at ${num(growth.smallEntries)} entries`,
        `A ${mb(growth.small.peakRssA)} / B ${mb(growth.small.peakRssB)}; growth to ${num(growth.largeEntries)}: A ${pct(growth.growthA)}, B ${pct(growth.growthB)}`,
      ]);
    }
    rows.push([
      'targets',
      Object.entries(targets)
        .map(([name, ok]) => `${name}=${ok === null ? 'skipped' : ok ? 'met' : 'MISSED'}`)
        .join(', '),
    ]);
    process.stdout.write(formatTable(['figure', 'value'], rows) + `\n\nresults: ${options.out}\n`);
  } finally {
    for (const node of NodeProcess.started) await node.stop('SIGKILL');
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

function failed(error: unknown): void {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
}

// Stopped by a signal (`kill PID`, a CI timeout), the bench takes its node processes with it: a
// signal to the bench alone would leave them running. (The hub bench's load generators exit when
// their IPC channel closes.)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const node of NodeProcess.started) node.child.kill('SIGKILL');
    process.exit(130);
  });
}

const argv = process.argv.slice(2);
// `--index` is its own bench (index-bench.ts): `tidemark index` against file-system floors.
const indexOptions = argv.includes('--index') ? parseIndexBenchArgs(argv) : undefined;
const options = argv.includes('--index') ? undefined : parseBenchArgs(argv);
if (indexOptions) runIndexBench(indexOptions).catch(failed);
if (options) {
  (options.hub
    ? runHubBench(options)
    : options.mesh !== undefined
      ? runMesh(options)
      : options.rewind
        ? runRewind(options)
        : run(options)
  ).catch((error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    // A relay or timer left behind by the failed phase must not keep the process alive.
    process.exit(1);
  });
}
