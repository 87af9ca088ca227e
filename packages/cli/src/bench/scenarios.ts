import * as path from 'node:path';
import { FieldsOf, Library, readResourceHeads, ResourceName, resourceNameOf } from '@tidemark/engine';
import { sampleRecords } from '@tidemark/engine/testing';
import { Entry } from '@tidemark/proto';
import { freePort } from '../free-port';
import { BenchOptions } from './args';
import { createMember, SourceLibrary } from './libraries';
import { MemoryPeaks, MemorySampler } from './memory-sampler';
import { cpuBetween, readThreadCpu, ThreadCpu } from './thread-cpu';
import { LogLine, NodeProcess, scrapeMetric } from './node-process';
import { CountingProxy } from './proxy';
import { CommitIdSpend, NOTHING_SPENT, spentBetween, spentBy } from './commit-id-share';

/** What each process counted of the restored-history check in a phase, and the CPU it used. */
export interface PhaseCommitIds {
  readonly byProcess: { readonly [process: string]: CommitIdSpend };
  readonly cpuSeconds: number | undefined;
}

const cpuTotal = (...used: (ThreadCpu | undefined)[]) =>
  used.every((u) => u !== undefined) ? used.reduce((sum, u) => sum + u!.main + u!.other, 0) : undefined;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const BACKFILL_TIMEOUT_MS = 30 * 60_000;
/** How often the bench looks at B's file for the incremental and follow phases. */
export const VISIBILITY_POLL_MS = 2;

export interface ServingNode {
  readonly node: NodeProcess;
  readonly port: number;
  readonly metricsPort: number;
}

export async function startServer(
  source: SourceLibrary,
  options: BenchOptions,
  name = 'A',
): Promise<ServingNode> {
  const port = await freePort();
  const metricsPort = await freePort();
  const node = await NodeProcess.start(
    name,
    { library: source.dir, port, metricsPort, batchSize: 0 },
    options.cpuProfDir,
  );
  return { node, port, metricsPort };
}

export interface BackfillResult {
  readonly rows: number;
  readonly received: number;
  readonly written: number;
  /** From B's "listening" line (its peer session starts right after) to "backfill finished". */
  readonly seconds: number;
  /** From spawning B's process, so including node's start-up. */
  readonly secondsFromSpawn: number;
  readonly rowsPerSecond: number;
  /** Bytes A sent to B through the counting proxy: protobuf + gRPC/HTTP2 framing. */
  readonly wireBytes: number;
  readonly wireBytesPerRow: number;
  readonly peakRssA: number;
  readonly peakRssB: number;
  /** Where the memory was during the backfill, from each node's own metrics. */
  readonly memoryA: MemoryPeaks;
  readonly memoryB: MemoryPeaks;
  /** CPU each node used during the backfill (Linux only). */
  readonly cpuA: ThreadCpu | undefined;
  readonly cpuB: ThreadCpu | undefined;
  /** The restored-history check's operations in the backfill (A serving, B applying). */
  readonly commitIds: PhaseCommitIds;
}

/** Sums the per-type "caught up" lines of one backfill. */
function caughtUpTotals(lines: readonly LogLine[]): {
  received: number;
  written: number;
  byType: { [type: string]: { rows: number; written: number } };
} {
  const byType: { [type: string]: { rows: number; written: number } } = {};
  for (const line of lines) {
    if (line.msg !== 'caught up') continue;
    byType[String(line.fields.resource_type)] = {
      rows: Number(line.fields.rows),
      written: Number(line.fields.written),
    };
  }
  const values = Object.values(byType);
  return {
    received: values.reduce((sum, t) => sum + t.rows, 0),
    written: values.reduce((sum, t) => sum + t.written, 0),
    byType,
  };
}

/** The types a backfill of the bench's source library moves rows of. */
const COPIED_TYPES: readonly ResourceName[] = ['device', 'volume', 'location', 'entry'];

export async function countHeldRows(file: string): Promise<number> {
  const library = await Library.open(file);
  try {
    const heads = await readResourceHeads(library);
    return heads
      .filter((head) => COPIED_TYPES.includes(resourceNameOf(head.resourceType)))
      .reduce((sum, head) => sum + head.rowCount, 0);
  } finally {
    await library.close();
  }
}

/** B (a fresh member) runs `tidemark node --peer A` through a counting proxy until backfilled; B keeps following. */
export async function fullBackfill(
  server: ServingNode,
  source: SourceLibrary,
  workDir: string,
  label: string,
  options: BenchOptions,
): Promise<{
  result: BackfillResult;
  b: NodeProcess;
  bFile: string;
  bMetricsPort: number;
  proxy: CountingProxy;
}> {
  const bDir = await createMember(path.join(workDir, label), source.libraryId, `bench-${label}`);
  const proxy = await CountingProxy.start(server.port);
  const bMetricsPort = await freePort();
  const samplerA = new MemorySampler(server.metricsPort).start();
  const spentByABefore = await spentBy(server.metricsPort);
  const b = await NodeProcess.start(
    'B',
    {
      library: bDir,
      port: await freePort(),
      metricsPort: bMetricsPort,
      peer: `127.0.0.1:${proxy.port}`,
      batchSize: options.batchSize,
    },
    options.cpuProfDir,
  );
  const samplerB = new MemorySampler(bMetricsPort).start();
  const listening = await b.waitFor((line) => line.msg === 'listening', 1000);
  const cpuBefore = { a: readThreadCpu(server.node.pid), b: readThreadCpu(b.pid) };
  const done = await b.waitFor((line) => line.msg === 'backfill finished; following', BACKFILL_TIMEOUT_MS);
  const cpuA = cpuBetween(cpuBefore.a, readThreadCpu(server.node.pid));
  const cpuB = cpuBetween(cpuBefore.b, readThreadCpu(b.pid));
  const [spentByA, spentByB] = [await spentBy(server.metricsPort), await spentBy(bMetricsPort)];
  const [memoryA, memoryB] = await Promise.all([samplerA.stop(), samplerB.stop()]);
  const seconds = (done.at - listening.at) / 1000;
  // B counts from its spawn (its open's history-mark check included), A from just before it.
  const byProcess = { A: spentBetween(spentByABefore, spentByA), B: spentBetween(NOTHING_SPENT, spentByB) };
  const totals = caughtUpTotals(b.lines);
  const bFile = Library.fileIn(bDir);
  const held = await countHeldRows(bFile);
  // B's file also holds its own device row.
  if (held !== source.rows + 1)
    throw new Error(`B holds ${held} rows after the backfill, A has ${source.rows} (+1 own device)`);
  const wireBytes = proxy.downstreamBytes;
  return {
    b,
    bFile,
    bMetricsPort,
    proxy,
    result: {
      rows: source.rows,
      received: totals.received,
      written: totals.written,
      seconds,
      secondsFromSpawn: (done.at - b.spawnedAt) / 1000,
      rowsPerSecond: source.rows / seconds,
      wireBytes,
      wireBytesPerRow: wireBytes / source.rows,
      peakRssA: server.node.peakRssBytes(),
      peakRssB: b.peakRssBytes(),
      memoryA,
      memoryB,
      cpuA,
      cpuB,
      commitIds: { byProcess, cpuSeconds: cpuTotal(cpuA, cpuB) },
    },
  };
}

export function changed(entry: Entry, bump: number): FieldsOf<'entry'> {
  return {
    uuid: entry.uuid,
    deviceUuid: entry.deviceUuid,
    locationUuid: entry.locationUuid,
    parentUuid: entry.parentUuid,
    relativePath: entry.relativePath,
    kind: entry.kind,
    sizeBytes: entry.sizeBytes + bump,
    modifiedAtMs: entry.modifiedAtMs + bump,
    contentUuid: entry.contentUuid,
  };
}

/** Resolves with the time B's change counter reaches `target` (each applied row takes one seq). */
async function whenHeadReaches(b: Library, target: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if ((await b.headSeq()) >= target) return performance.now();
    if (performance.now() > deadline) throw new Error(`B did not reach seq ${target} in ${timeoutMs} ms`);
    await sleep(VISIBILITY_POLL_MS);
  }
}

export interface IncrementalResult {
  readonly changes: number;
  readonly seconds: number;
  readonly fractionOfFullBackfill: number;
}

/**
 * N entries change on A in one transaction, written by the bench process through the engine's
 * write path (a second process on A's file, like an indexer); the clock runs from the commit to
 * B's file holding all of them.
 */
export async function incremental(
  aLibrary: Library,
  bLibrary: Library,
  changes: number,
  fullSeconds: number,
): Promise<IncrementalResult> {
  const rows = await sampleRecords(aLibrary, 'entry', changes);
  const base = await bLibrary.headSeq();
  await aLibrary.write(async (tx) => {
    for (const row of rows) await tx.put('entry', changed(row, 1));
  });
  const committed = performance.now();
  const visible = await whenHeadReaches(bLibrary, base + rows.length, 120_000);
  const seconds = (visible - committed) / 1000;
  return { changes: rows.length, seconds, fractionOfFullBackfill: seconds / fullSeconds };
}

export interface FollowResult {
  readonly commits: number;
  readonly ratePerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Single-row commits on A at `rate` per second while B follows. Each commit's latency runs from
 * A's commit returning to B's file holding it; B's change counter is read every
 * VISIBILITY_POLL_MS on a read connection of the bench process (WAL: it never blocks B's writer).
 */
export async function followLatency(
  aLibrary: Library,
  bLibrary: Library,
  seconds: number,
  rate: number,
): Promise<FollowResult> {
  const count = Math.round(seconds * rate);
  const rows = await sampleRecords(aLibrary, 'entry', Math.min(count, 10_000));
  const base = await bLibrary.headSeq();
  const committedAt: number[] = [];
  const visibleAt: number[] = [];
  let writing = true;
  const watcher = (async () => {
    let seen = 0;
    while (writing || seen < committedAt.length) {
      const head = (await bLibrary.headSeq()) - base;
      const now = performance.now();
      for (; seen < Math.min(head, count); seen++) visibleAt[seen] = now;
      await sleep(VISIBILITY_POLL_MS);
    }
  })();
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    await aLibrary.write((tx) => tx.put('entry', changed(rows[i % rows.length], 2 + i)));
    committedAt[i] = performance.now();
  }
  writing = false;
  await Promise.race([watcher, sleep(30_000)]);
  const latencies = committedAt.map((at, i) => (visibleAt[i] ?? NaN) - at).filter(Number.isFinite);
  if (latencies.length < count)
    throw new Error(`only ${latencies.length} of ${count} follow commits reached B`);
  const sorted = [...latencies].sort((x, y) => x - y);
  return {
    commits: count,
    ratePerSecond: count / ((committedAt[count - 1] - start) / 1000 || 1),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1],
    meanMs: sorted.reduce((s, x) => s + x, 0) / sorted.length,
  };
}

export interface ResumeResult {
  readonly killedAfterReceived: number;
  readonly heldAfterKill: number;
  readonly receivedAfterRestart: number;
  readonly writtenAfterRestart: number;
  /** Rows B received again after the restart although it already held them. */
  readonly rowsSentTwice: number;
  readonly rowsSentTwiceByType: { readonly [type: string]: number };
  /** Restart (spawn) to "backfill finished". */
  readonly secondsToFinish: number;
  /** The check's operations in the restarted B's run (its cursors resumed on A). */
  readonly commitIds: PhaseCommitIds;
  readonly heldAtEnd: number;
  readonly batchSize: number;
}

/** B backfills, is SIGKILLed at about half way, restarts and finishes from its watermarks. */
export async function resume(
  server: ServingNode,
  source: SourceLibrary,
  workDir: string,
  options: BenchOptions,
  batchSize: number,
): Promise<ResumeResult> {
  const bDir = await createMember(path.join(workDir, 'resume-b'), source.libraryId, 'bench-resume');
  const port = await freePort();
  const metricsPort = await freePort();
  const args = {
    library: bDir,
    port,
    peer: `127.0.0.1:${server.port}`,
    metricsPort,
    batchSize: options.batchSize,
  };
  const first = await NodeProcess.start('B-resume', args, options.cpuProfDir);
  let received = 0;
  while (received < source.entries / 2) {
    await sleep(20);
    received = await scrapeMetric(metricsPort, 'tidemark_rows_received_total', { resource_type: 'entry' });
  }
  await first.stop('SIGKILL');
  const file = Library.fileIn(bDir);
  const heldAfterKill = await countHeldRows(file);
  const spentByABefore = await spentBy(server.metricsPort);
  const cpuABefore = readThreadCpu(server.node.pid);
  const second = await NodeProcess.start('B-resume', args, options.cpuProfDir);
  const done = await second.waitFor(
    (line) => line.msg === 'backfill finished; following',
    BACKFILL_TIMEOUT_MS,
  );
  const secondsToFinish = (done.at - second.spawnedAt) / 1000;
  // The restarted B's CPU from its spawn: /proc counts every thread it ran.
  const cpuResume = cpuTotal(
    cpuBetween(cpuABefore, readThreadCpu(server.node.pid)),
    readThreadCpu(second.pid),
  );
  const resumeSpend = {
    A: spentBetween(spentByABefore, await spentBy(server.metricsPort)),
    B: spentBetween(NOTHING_SPENT, await spentBy(metricsPort)),
  };
  const totals = caughtUpTotals(second.lines);
  await second.stop();
  const heldAtEnd = await countHeldRows(file);
  if (heldAtEnd !== source.rows + 1)
    throw new Error(`resumed B holds ${heldAtEnd} rows, A has ${source.rows} (+1 own device)`);
  const byType: { [type: string]: number } = {};
  for (const [type, t] of Object.entries(totals.byType)) byType[type] = t.rows - t.written;
  return {
    killedAfterReceived: received,
    heldAfterKill,
    receivedAfterRestart: totals.received,
    writtenAfterRestart: totals.written,
    rowsSentTwice: heldAfterKill + totals.received - heldAtEnd,
    rowsSentTwiceByType: byType,
    secondsToFinish,
    commitIds: { byProcess: resumeSpend, cpuSeconds: cpuResume },
    heldAtEnd,
    batchSize,
  };
}
