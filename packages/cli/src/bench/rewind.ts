/**
 * `npm run bench -- --rewind [--entries E] [--changes K]`: the price of a restore that keeps the
 * epoch (docs/architecture.md, "Claims of a lost history"). Three real `tidemark node` processes
 * in a full mesh: A holds E entries, a backup of its library.db and history mark is taken, A
 * changes K entries, B and C sync everything from A and from each other. Then A is stopped, the
 * backup copied over its files in place (WAL and SHM removed) and A restarted: the same epoch, a
 * shorter history. Each of B and C is reset by A (A resends every row of its lineage it still has),
 * forgets its claim on A's lineage and rewinds its cursors on the other peer, which resends what
 * it holds of A's lineage, less what the rewound device's remaining claims cover. Figures: rows
 * each device received from each peer after the restart, by type, and the seconds from A's
 * restart to the last of them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Library } from '@tidemark/engine';
import { sampleRecords } from '@tidemark/engine/testing';
import { freePort } from '../free-port';
import { formatTable } from '../output';
import { BenchOptions } from './args';
import { createMember, prepareSource } from './libraries';
import { metricOf, NodeProcess, scrapeMetrics } from './node-process';
import { changed, countHeldRows } from './scenarios';

const POLL_MS = 250;
/** No row received by B or C for this long after the restart: the restore's price is paid. */
const QUIET_MS = 10_000;
const TIMEOUT_MS = 60 * 60_000;
const TYPES = ['device', 'volume', 'location', 'entry'] as const;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const num = (n: number) => Math.round(n).toLocaleString('en-US');

interface Device {
  readonly name: 'A' | 'B' | 'C';
  readonly dir: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly peers: readonly ('A' | 'B' | 'C')[];
  node?: NodeProcess;
}

/** Rows received by `device` from each peer, by type, since its process started. */
type Received = { [peer: string]: { [type: string]: number } };

async function receivedBy(device: Device, all: readonly Device[]): Promise<Received> {
  const page = await scrapeMetrics(device.metricsPort);
  const result: Received = {};
  for (const peerName of device.peers) {
    const peer = all.find((d) => d.name === peerName)!;
    result[peerName] = {};
    for (const type of TYPES)
      result[peerName][type] = metricOf(page, 'tidemark_rows_received_total', {
        peer: `127.0.0.1:${peer.port}`,
        resource_type: type,
      });
  }
  return result;
}

const totalOf = (received: Received) =>
  Object.values(received).reduce((sum, byType) => sum + Object.values(byType).reduce((s, n) => s + n, 0), 0);

function minus(after: Received, before: Received): Received {
  const result: Received = {};
  for (const [peer, byType] of Object.entries(after)) {
    result[peer] = {};
    for (const [type, n] of Object.entries(byType)) result[peer][type] = n - (before[peer]?.[type] ?? 0);
  }
  return result;
}

/**
 * Resolves when no device's received rows changed for QUIET_MS, with the time of the last change
 * (performance.now()) and each device's counters then.
 */
async function whenQuiet(
  devices: readonly Device[],
  all: readonly Device[],
  since: number,
): Promise<{ lastChangeAt: number; received: Map<string, Received> }> {
  let last = -1;
  let lastChangeAt = since;
  const deadline = performance.now() + TIMEOUT_MS;
  for (;;) {
    const received = new Map<string, Received>();
    for (const device of devices) received.set(device.name, await receivedBy(device, all));
    const total = [...received.values()].reduce((sum, r) => sum + totalOf(r), 0);
    const now = performance.now();
    if (total !== last) {
      last = total;
      lastChangeAt = now;
    } else if (now - lastChangeAt >= QUIET_MS) {
      return { lastChangeAt, received };
    }
    if (now > deadline) throw new Error('the devices did not settle within the timeout');
    await sleep(POLL_MS);
  }
}

async function startDevice(device: Device, all: readonly Device[], cpuProfDir?: string): Promise<void> {
  device.node = await NodeProcess.start(
    device.name,
    {
      library: device.dir,
      port: device.port,
      metricsPort: device.metricsPort,
      peers: device.peers.map((name) => `127.0.0.1:${all.find((d) => d.name === name)!.port}`),
      batchSize: 0,
    },
    cpuProfDir,
  );
}

export async function runRewind(options: BenchOptions): Promise<void> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-rewind-'));
  const log = (text: string) => process.stderr.write(`bench: ${text}\n`);
  const shape = { volumes: options.volumes, locations: options.locations, entries: options.entries };
  const all: Device[] = [];
  try {
    const source = await prepareSource(workDir, 'a', shape, options.fresh);
    const backup = path.join(workDir, 'a-backup');
    fs.mkdirSync(backup);
    for (const name of ['library.db', 'library.db.history'])
      fs.copyFileSync(path.join(source.dir, name), path.join(backup, name));
    const lost = options.incrementalChanges;
    const a = await Library.open(source.file);
    try {
      const rows = await sampleRecords(a, 'entry', lost);
      await a.write(async (tx) => {
        for (const row of rows) await tx.put('entry', changed(row, 1));
      });
    } finally {
      await a.close();
    }
    log(
      `A: ${num(source.rows)} rows, a backup taken, then ${num(lost)} entries changed (the history the restore loses)`,
    );

    const member = async (label: string) =>
      createMember(path.join(workDir, label), source.libraryId, `bench-${label}`);
    all.push(
      { name: 'A', dir: source.dir, port: await freePort(), metricsPort: await freePort(), peers: [] },
      {
        name: 'B',
        dir: await member('b'),
        port: await freePort(),
        metricsPort: await freePort(),
        peers: ['A', 'C'],
      },
      {
        name: 'C',
        dir: await member('c'),
        port: await freePort(),
        metricsPort: await freePort(),
        peers: ['A', 'B'],
      },
    );
    const [nodeA, nodeB, nodeC] = all;
    for (const device of all) await startDevice(device, all, options.cpuProfDir);
    const meshStart = performance.now();
    // B and C hold A's rows and each other's device row.
    for (const device of [nodeB, nodeC]) {
      const file = Library.fileIn(device.dir);
      for (;;) {
        if ((await countHeldRows(file)) === source.rows + 2) break;
        if (performance.now() - meshStart > TIMEOUT_MS) throw new Error(`${device.name} did not backfill`);
        await sleep(POLL_MS);
      }
    }
    const synced = await whenQuiet([nodeB, nodeC], all, meshStart);
    log(
      `mesh backfill: B and C hold every row, quiet after ${((synced.lastChangeAt - meshStart) / 1000).toFixed(1)} s`,
    );

    await nodeA.node!.stop();
    const file = Library.fileIn(nodeA.dir);
    for (const suffix of ['-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
    fs.copyFileSync(path.join(backup, 'library.db'), file);
    fs.copyFileSync(path.join(backup, 'library.db.history'), `${file}.history`);
    const before = synced.received;
    log('A restored from the backup with its mark (same epoch); restarting A');
    const restartedAt = performance.now();
    await startDevice(nodeA, all, options.cpuProfDir);
    const settled = await whenQuiet([nodeB, nodeC], all, restartedAt);
    const seconds = (settled.lastChangeAt - restartedAt) / 1000;
    const after = {
      B: minus(settled.received.get('B')!, before.get('B')!),
      C: minus(settled.received.get('C')!, before.get('C')!),
    };

    const restoredRows = source.rows;
    const table: string[][] = [
      [
        'library',
        `${num(options.entries)} entries = ${num(source.rows)} rows; ${num(lost)} entries changed after the backup`,
      ],
    ];
    for (const [device, other] of [
      ['B', 'C'],
      ['C', 'B'],
    ] as const) {
      const fromA = after[device].A;
      const fromOther = after[device][other];
      table.push([
        `${device}: from A (reset)`,
        `${num(Object.values(fromA).reduce((s, n) => s + n, 0))} rows (entry ${num(fromA.entry)})`,
      ]);
      table.push([
        `${device}: from ${other} (rewind)`,
        `${num(Object.values(fromOther).reduce((s, n) => s + n, 0))} rows (entry ${num(fromOther.entry)})`,
      ]);
    }
    table.push(['seconds', `${seconds.toFixed(1)} s from A's restart to the last row B or C received`]);
    const results = {
      at: new Date().toISOString(),
      options: { entries: options.entries, changedAfterBackup: lost },
      rowsOfA: source.rows,
      restoredRows,
      receivedAfterRestart: after,
      seconds,
      method:
        "rows: each node's tidemark_rows_received_total by peer and type, after A's restart minus before its stop; seconds: A's spawn to the last poll (every 250 ms) at which B's or C's counters had grown, the devices then quiet for 10 s",
    };
    fs.mkdirSync(path.dirname(path.resolve(options.out)), { recursive: true });
    fs.writeFileSync(options.out, JSON.stringify(results, null, 2) + '\n');
    process.stdout.write(formatTable(['figure', 'value'], table) + `\n\nresults: ${options.out}\n`);
  } finally {
    for (const node of NodeProcess.started) await node.stop('SIGKILL');
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}
