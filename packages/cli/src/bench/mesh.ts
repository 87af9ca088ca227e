/**
 * `npm run bench -- --mesh N --entries E`: N devices of one library, each with E entries of its
 * own, real `tidemark node` processes in a full mesh (each follows every other). For a backfill
 * (every library populated, then the nodes started) and for live writes (the nodes running,
 * then every device writes E more entries, from this process, as an indexer beside the node
 * would): rows each device received divided by the rows it needed, wall time, and each node's
 * CPU. `--no-origin-filter` runs the nodes as they were before origin-aware serving.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Library, readResourceHeads } from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import { freePort } from '../free-port';
import { formatTable } from '../output';
import { BenchOptions } from './args';
import { metricOf, NodeProcess, scrapeMetrics } from './node-process';
import { cpuBetween, readThreadCpu, ThreadCpu } from './thread-cpu';

const VOLUMES = 1;
const benchLog = (text: string) => process.stderr.write(`bench: ${text}\n`);
const LOCATIONS = 5;
const TIMEOUT_MS = 60 * 60_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const POLL_MS = 250;

/** What one device received from one peer in a phase: where its extra copies came from. */
interface FromPeer {
  readonly peer: number;
  readonly received: number;
  readonly applied: number;
  /** The same by origin (the device that wrote the rows), where anything was received. */
  readonly byOrigin: readonly { origin: number; received: number; applied: number }[];
}

/** One sample of a phase's timeline: entries received and applied, per device and peer. */
interface Sample {
  readonly seconds: number;
  /** [device][peer] = [received, applied] of the entry type since the phase began. */
  readonly entries: readonly (readonly (readonly [number, number])[])[];
}

/** A backfill pull of one type that caught up (the node's info line), as a phase's event. */
interface CaughtUp {
  readonly seconds: number;
  readonly device: number;
  readonly peer: number;
  readonly type: string;
  readonly rows: number;
  readonly written: number;
}

interface DeviceFigures {
  readonly device: number;
  readonly fromPeers: readonly FromPeer[];
  readonly received: number;
  readonly skippedHeld: number;
  readonly applied: number;
  readonly needed: number;
  /** received / needed. */
  readonly ratio: number;
  readonly cpu: ThreadCpu | undefined;
}

interface PhaseResult {
  readonly phase: 'backfill' | 'live';
  readonly seconds: number;
  /** The machine's load averages (1, 5, 15 min) when the phase began and ended: shared cores. */
  readonly load: { readonly start: readonly number[]; readonly end: readonly number[] };
  readonly devices: readonly DeviceFigures[];
  readonly meanRatio: number;
  readonly maxRatio: number;
  readonly timeline: readonly Sample[];
  readonly caughtUp: readonly CaughtUp[];
}

interface MeshNode {
  readonly process: NodeProcess;
  /** The address its peers dial, as their metrics label it. */
  readonly address: string;
  readonly metricsPort: number;
  /** The node's library, opened by the bench too, to count what it holds. */
  readonly library: Library;
}

/** Rows (every type) a library holds: what convergence is judged by. */
async function heldRows(library: Library): Promise<number> {
  const heads = await readResourceHeads(library);
  return heads.reduce((sum, head) => sum + head.rowCount, 0);
}

interface PeerCounters {
  readonly received: number;
  readonly applied: number;
  readonly entries: [number, number];
  /** [received, applied] of every type, per origin device in device order. */
  readonly origins: readonly (readonly [number, number])[];
}

interface Counters {
  readonly received: number;
  readonly skippedHeld: number;
  readonly applied: number;
  /** Per peer address: rows received and applied, every type and the entry type alone. */
  readonly byPeer: ReadonlyMap<string, PeerCounters>;
}

/** Filled in once the nodes are started: every node's address, to read per-peer series. */
let addresses: readonly string[] = [];
/** Every device's id in device order, to read per-origin series. */
let deviceIds: readonly string[] = [];

/** Whether a socket on this machine listens on TCP `port` (from /proc; undefined off Linux). */
function listensOn(port: number): boolean | undefined {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let found: boolean | undefined;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    found ??= false;
    // "sl local_address rem_address st ...": st 0A is LISTEN.
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state === '0A' && local?.endsWith(`:${hex}`)) return true;
    }
  }
  return found;
}

/** How long a live node's metrics endpoint may fail before the bench gives up. */
const SCRAPE_PATIENCE_MS = 60_000;

/**
 * A node's /metrics page. A node that exited fails the run at once, naming it and its last log
 * lines; a running node whose endpoint fails is asked again for SCRAPE_PATIENCE_MS, each failure
 * logged with whether its port still listens, so a cause on the bench's side can be told apart
 * from one in the node.
 */
async function scrapeNode(node: MeshNode, log: (text: string) => void): Promise<string> {
  const deadline = Date.now() + SCRAPE_PATIENCE_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await scrapeMetrics(node.metricsPort);
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? String(error);
      const exit = node.process.exitState;
      if (exit !== undefined || Date.now() > deadline) {
        const last = node.process.lines
          .slice(-5)
          .map((line) => `\n  ${JSON.stringify(line.fields).slice(0, 300)}`)
          .join('');
        throw new Error(
          `${node.process.name} (pid ${node.process.pid}, metrics :${node.metricsPort}) ` +
            `${exit ?? 'runs but its metrics endpoint kept failing'}: ${cause}; its last log lines:${last}`,
        );
      }
      log(
        `${node.process.name} (pid ${node.process.pid}) metrics :${node.metricsPort} failed ` +
          `(attempt ${attempt}, ${cause}); the port ${listensOn(node.metricsPort) ? 'listens' : 'does not listen'}`,
      );
      await sleep(1_000);
    }
  }
}

async function countersOf(node: MeshNode): Promise<Counters> {
  const body = await scrapeNode(node, benchLog);
  const byPeer = new Map<string, PeerCounters>();
  for (const peer of addresses) {
    if (peer === node.address) continue;
    const entry = { peer, resource_type: 'entry' };
    byPeer.set(peer, {
      received: metricOf(body, 'tidemark_rows_received_total', { peer }),
      applied: metricOf(body, 'tidemark_rows_applied_total', { peer }),
      entries: [
        metricOf(body, 'tidemark_rows_received_total', entry),
        metricOf(body, 'tidemark_rows_applied_total', entry),
      ],
      origins: deviceIds.map((origin): [number, number] => [
        metricOf(body, 'tidemark_rows_received_by_origin_total', { peer, origin }),
        metricOf(body, 'tidemark_rows_applied_by_origin_total', { peer, origin }),
      ]),
    });
  }
  return {
    received: metricOf(body, 'tidemark_rows_received_total'),
    skippedHeld: metricOf(body, 'tidemark_rows_skipped_held_total'),
    applied: metricOf(body, 'tidemark_rows_applied_total'),
    byPeer,
  };
}

/** Entries [received, applied] per device and peer since `before`, peers in device order. */
function entriesSince(nodes: readonly MeshNode[], before: readonly Counters[], now: readonly Counters[]) {
  return now.map((counters, device) =>
    nodes.map((peer): [number, number] => {
      const [received, applied] = counters.byPeer.get(peer.address)?.entries ?? [0, 0];
      const [received0, applied0] = before[device].byPeer.get(peer.address)?.entries ?? [0, 0];
      return [received - received0, applied - applied0];
    }),
  );
}

/** How often a phase's timeline samples the counters. */
const SAMPLE_MS = 1_000;

/** The backfill pulls that caught up since `linesBefore`, from the nodes' info lines. */
function caughtUpSince(
  nodes: readonly MeshNode[],
  linesBefore: readonly number[],
  started: number,
): CaughtUp[] {
  return nodes.flatMap((node, device) =>
    node.process.lines
      .slice(linesBefore[device])
      .filter((line) => line.msg === 'caught up')
      .map((line) => ({
        seconds: (line.at - started) / 1000,
        device,
        peer: nodes.findIndex((peer) => peer.address === line.fields.peer),
        type: String(line.fields.resource_type),
        rows: Number(line.fields.rows),
        written: Number(line.fields.written),
      })),
  );
}

const QUIET_MS = 3_000;

/** The counters once they have not moved for QUIET_MS (at most a minute). */
async function quiet(nodes: readonly MeshNode[], from: Counters[]): Promise<Counters[]> {
  let last = from;
  let stillSince = Date.now();
  const deadline = Date.now() + 60_000;
  while (Date.now() - stillSince < QUIET_MS && Date.now() < deadline) {
    await sleep(POLL_MS);
    const now = await Promise.all(nodes.map(countersOf));
    if (now.some((counters, index) => counters.received !== last[index].received)) stillSince = Date.now();
    last = now;
  }
  return last;
}

/**
 * Waits until every node's library holds `target` rows, then (once the counters are quiet)
 * returns the figures of the phase against `needed`, the rows each node had to receive.
 */
async function measurePhase(
  phase: PhaseResult['phase'],
  nodes: readonly MeshNode[],
  before: readonly Counters[],
  cpuBefore: readonly (ThreadCpu | undefined)[],
  needed: number,
  target: number,
  started: number,
  log: (text: string) => void,
): Promise<PhaseResult> {
  const deadline = Date.now() + TIMEOUT_MS;
  const loadAtStart = os.loadavg();
  let last = 0;
  let lastSample = 0;
  const timeline: Sample[] = [];
  const sample = async () => {
    lastSample = Date.now();
    const now = await Promise.all(nodes.map(countersOf));
    timeline.push({
      seconds: (performance.now() - started) / 1000,
      entries: entriesSince(nodes, before, now),
    });
  };
  const linesBefore = nodes.map((node) => node.process.lines.length);
  for (;;) {
    if (Date.now() - lastSample >= SAMPLE_MS) await sample();
    const held = await Promise.all(nodes.map((node) => heldRows(node.library)));
    const done = held.every((rows) => rows >= target);
    if (done) {
      let now = await Promise.all(nodes.map(countersOf));
      const seconds = (performance.now() - started) / 1000;
      // Copies still on their way (a relay's, after the direct path delivered) count too: wait
      // until no node has received anything for QUIET_MS.
      now = await quiet(nodes, now);
      await sample();
      const devices = now.map((counters, index): DeviceFigures => {
        const received = counters.received - before[index].received;
        const fromPeers = nodes.flatMap((peer, peerIndex): FromPeer[] => {
          const at = counters.byPeer.get(peer.address);
          const was = before[index].byPeer.get(peer.address);
          if (!at) return [];
          return [
            {
              peer: peerIndex,
              received: at.received - (was?.received ?? 0),
              applied: at.applied - (was?.applied ?? 0),
              byOrigin: at.origins.flatMap(([received, applied], origin) => {
                const [received0, applied0] = was?.origins[origin] ?? [0, 0];
                return received > received0
                  ? [{ origin, received: received - received0, applied: applied - applied0 }]
                  : [];
              }),
            },
          ];
        });
        return {
          device: index,
          fromPeers,
          received,
          skippedHeld: counters.skippedHeld - before[index].skippedHeld,
          applied: counters.applied - before[index].applied,
          needed,
          ratio: received / needed,
          cpu: cpuBetween(cpuBefore[index], readThreadCpu(nodes[index].process.pid)),
        };
      });
      const ratios = devices.map((device) => device.ratio);
      return {
        phase,
        seconds,
        load: { start: loadAtStart, end: os.loadavg() },
        devices,
        meanRatio: ratios.reduce((sum, ratio) => sum + ratio, 0) / ratios.length,
        maxRatio: Math.max(...ratios),
        timeline,
        caughtUp: caughtUpSince(nodes, linesBefore, started),
      };
    }
    if (Date.now() > deadline) throw new Error(`${phase}: the mesh did not converge within an hour`);
    if (Date.now() - last > 10_000) {
      last = Date.now();
      log(`${phase}: holding ${held.join(' / ')} of ${target} rows each`);
    }
    await sleep(POLL_MS);
  }
}

/**
 * Where a phase's extra copies came from: per device, each (peer, origin) whose rows arrived
 * already held ("d0 <- d2 of d1: 40,000 of 100,006" = device 0 received 40,000 rows written by
 * device 1 from peer 2 that it held already, of the 100,006 it received of them from there).
 */
function extraCopies(phase: PhaseResult): string[] {
  return phase.devices.map((device) => {
    const extra = device.fromPeers.flatMap((from) =>
      from.byOrigin
        .filter((origin) => origin.received > origin.applied)
        .map(
          (origin) =>
            `<- d${from.peer} of d${origin.origin}: ${origin.received - origin.applied} of ${origin.received}`,
        ),
    );
    return `${phase.phase} d${device.device}: ${extra.length ? extra.join(', ') : 'no copies'}`;
  });
}

export async function runMesh(options: BenchOptions): Promise<void> {
  const devices = options.mesh!;
  const entries = options.entries;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-mesh-'));
  const log = benchLog;
  const nodes: MeshNode[] = [];
  try {
    log(
      `mesh of ${devices} devices, ${entries} entries each, origin filter ${options.originFilter ? 'on' : 'off'}`,
    );
    const dirs: string[] = [];
    // The nodes are started one after another: a node's first dials to peers not listening yet
    // fail and back off (200 ms, doubling), part of the backfill's wall time in both runs.
    let libraryId: string | undefined;
    for (let index = 0; index < devices; index++) {
      const dir = path.join(workDir, `d${index}`);
      const library = await Library.create(Library.fileIn(dir), {
        libraryId,
        deviceName: `mesh-${index}`,
      });
      libraryId = library.identity.libraryId;
      deviceIds = [...deviceIds, library.identity.deviceId];
      await writeSyntheticLibrary(library, {
        volumes: VOLUMES,
        locations: LOCATIONS,
        entries,
        seed: index + 1,
      });
      await library.close();
      dirs.push(dir);
      log(`device ${index}: ${entries} entries written`);
    }
    const ports = await Promise.all(dirs.map(() => freePort()));
    addresses = ports.map((port) => `127.0.0.1:${port}`);
    const metricsPorts = await Promise.all(dirs.map(() => freePort()));
    const started = performance.now();
    for (const [index, dir] of dirs.entries()) {
      const child = await NodeProcess.start(
        `N${index}`,
        {
          library: dir,
          port: ports[index],
          metricsPort: metricsPorts[index],
          peers: ports.filter((_, other) => other !== index).map((port) => `127.0.0.1:${port}`),
          batchSize: options.batchSize,
          extra: [
            ...(options.originFilter ? [] : ['--no-origin-filter']),
            ...(options.relayHoldMs === undefined ? [] : ['--relay-hold-ms', String(options.relayHoldMs)]),
          ],
        },
        options.cpuProfDir,
      );
      nodes.push({
        process: child,
        address: addresses[index],
        metricsPort: metricsPorts[index],
        library: await Library.open(Library.fileIn(dir)),
      });
    }
    // The test of the bench's cleanup (test/bench-mesh-cleanup.test.ts) reads this line.
    log(
      `nodes started in ${workDir}: ${nodes
        .map((node) => `${node.process.name} pid ${node.process.pid} metrics :${node.metricsPort}`)
        .join(', ')}`,
    );
    const zero: Counters = { received: 0, skippedHeld: 0, applied: 0, byPeer: new Map() };
    const perDevice = 1 + VOLUMES + LOCATIONS + entries;
    const backfill = await measurePhase(
      'backfill',
      nodes,
      nodes.map(() => zero),
      nodes.map(() => ({ main: 0, other: 0 })),
      (devices - 1) * perDevice,
      devices * perDevice,
      started,
      log,
    );
    log(`backfill: ${backfill.seconds.toFixed(1)} s, received/needed ${backfill.meanRatio.toFixed(3)}`);
    for (const line of extraCopies(backfill)) log(line);

    // Let the follow streams settle before the live phase's counters are read.
    await sleep(2_000);
    const before = await Promise.all(nodes.map(countersOf));
    const cpuBefore = nodes.map((node) => readThreadCpu(node.process.pid));
    const liveStarted = performance.now();
    log('live: every device writes');
    const writers = nodes.map((node, index) =>
      writeSyntheticLibrary(node.library, {
        volumes: VOLUMES,
        locations: LOCATIONS,
        entries,
        seed: 1_000 + index,
      }),
    );
    const live = measurePhase(
      'live',
      nodes,
      before,
      cpuBefore,
      (devices - 1) * (VOLUMES + LOCATIONS + entries),
      devices * (perDevice + VOLUMES + LOCATIONS + entries),
      liveStarted,
      log,
    );
    // Both awaited together: the phase failing while the writers still run must reach the
    // `finally` below, not end the process as an unhandled rejection with the nodes left running.
    const [liveResult] = await Promise.all([live, Promise.all(writers)]);
    log(`live: ${liveResult.seconds.toFixed(1)} s, received/needed ${liveResult.meanRatio.toFixed(3)}`);
    for (const line of extraCopies(liveResult)) log(line);

    const results = {
      devices,
      entries,
      originFilter: options.originFilter,
      relayHoldMs: options.relayHoldMs,
      cores: os.cpus().length,
      phases: [backfill, liveResult],
    };
    fs.mkdirSync(path.dirname(options.out), { recursive: true });
    fs.writeFileSync(options.out, JSON.stringify(results, null, 2));
    const cpu = (used: ThreadCpu | undefined) => (used ? (used.main + used.other).toFixed(1) : '?');
    const rows = [backfill, liveResult].map((phase) => [
      phase.phase,
      String(devices),
      String(entries),
      options.originFilter ? 'on' : 'off',
      `${phase.meanRatio.toFixed(3)} (max ${phase.maxRatio.toFixed(3)})`,
      `${phase.seconds.toFixed(1)} s`,
      phase.devices.map((device) => cpu(device.cpu)).join(' / '),
      phase.devices.map((device) => device.skippedHeld).join(' / '),
      `${phase.load.start[0].toFixed(1)} / ${phase.load.end[0].toFixed(1)}`,
    ]);
    process.stdout.write(
      formatTable(
        [
          'phase',
          'N',
          'E',
          'filter',
          'received / needed',
          'wall',
          'CPU s per device',
          'skipped as held',
          'load 1-min start / end',
        ],
        rows,
      ) + `\n\nresults: ${options.out}\n`,
    );
  } finally {
    // Every step runs whatever the one before it did: the nodes first, so none outlives a failure.
    for (const node of NodeProcess.started) await node.stop('SIGKILL');
    for (const node of nodes)
      await node.library.close().catch((error: unknown) => log(`closing: ${String(error)}`));
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}
