/**
 * Real `tidemark` processes whose clocks are shifted by Debian's `faketime` (docs/architecture.md,
 * "Clocks"): a device whose clock is wrong still syncs every row both ways, shared edits resolve
 * by the documented rule, the correct device says which clock is wrong, and a chain of devices
 * minutes apart converges with no type stalled.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CORRECT, expectLibfaketime, shiftedBy } from './faketime';
import { freePort, Launcher, NodeProcess, removeTempDirs, runCli, tempDir, waitFor } from './harness';

afterAll(removeTempDirs);

const MAX_DRIFT_MS = 5 * 60_000;
/** The slack allowed on a measured offset: process start-up and round trips on one machine. */
const OFFSET_SLACK_MS = 5_000;

async function cli(args: readonly string[], launcher: Launcher = CORRECT): Promise<string> {
  const result = await runCli(args, { launcher });
  if (result.code !== 0) {
    throw new Error(`tidemark ${args.join(' ')} exited ${result.code}:\n${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

async function cliJson<T>(args: readonly string[], launcher: Launcher = CORRECT): Promise<T> {
  return JSON.parse(await cli([...args, '--json'], launcher)) as T;
}

interface Device {
  readonly dir: string;
  readonly deviceId: string;
  readonly launcher: Launcher;
}

async function initDevice(launcher: Launcher, libraryId?: string): Promise<Device & { libraryId: string }> {
  const dir = tempDir('tidemark-clock-');
  const made = await cliJson<{ libraryId: string; deviceId: string }>(
    ['init', '--library', dir, ...(libraryId ? ['--library-id', libraryId] : [])],
    launcher,
  );
  return { dir, launcher, ...made };
}

/** `tidemark generate` on the device, under its own clock: one volume, then locations and entries. */
const generate = (device: Device, locations: number, entries: number, seed: number) =>
  cli(
    [
      'generate',
      '--library',
      device.dir,
      '--volumes',
      '1',
      '--locations',
      String(locations),
      '--entries',
      String(entries),
      '--seed',
      String(seed),
    ],
    device.launcher,
  );

/**
 * Whether `device`'s library has the same digest as the node at `address` for every type. Run
 * with the device's clock: verify starts with a handshake, from which the node measures the
 * device's clock offset.
 */
async function inStep(device: Device, address: string): Promise<boolean> {
  const args = ['verify', '--library', device.dir, '--peer', address, '--insecure'];
  return (await runCli(args, { launcher: device.launcher })).code === 0;
}

const tagNames = async (device: Device) =>
  (await cliJson<{ uuid: string; name: string }[]>(['tag', 'list', '--library', device.dir])).map(
    (t) => t.name,
  );

/** A folder of small files for `tidemark index`. */
function folderOfFiles(count: number): string {
  const root = tempDir('tidemark-clock-files-');
  for (let i = 0; i < count; i++) {
    const dir = path.join(root, `dir-${i % 3}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `file-${i}.txt`), `contents ${i % 7}\n`);
  }
  return root;
}

/** The value of a sample line of a Prometheus text page. */
function sample(
  text: string,
  name: string,
  labels: { readonly [label: string]: string },
): number | undefined {
  const line = text
    .split('\n')
    .find(
      (candidate) =>
        candidate.startsWith(`${name}{`) &&
        Object.entries(labels).every(([key, value]) => candidate.includes(`${key}="${value}"`)),
    );
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const sumOf = (text: string, name: string) =>
  text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);

test("faketime shifts a node process's wall clock and leaves its timers alone", () => {
  expectLibfaketime();
  const [command, ...launcherArgs] = shiftedBy('+10m');
  const run = spawnSync(
    command,
    [
      ...launcherArgs,
      process.execPath,
      '-e',
      // A string, not console.log(numbers): under FORCE_COLOR (nx sets it) numbers come out in ANSI colour.
      'const t = Date.now(); setTimeout(() => process.stdout.write(`${t} ${Date.now() - t}\\n`), 200)',
    ],
    { encoding: 'utf8' },
  );
  expect(run.error?.message ?? run.stderr).toBe('');
  // Only the child's own line counts: anything else on stdout (a preload's notice) is not a time.
  const line = run.stdout.split('\n').find((text) => /^\d+ \d+$/.test(text.trim()));
  expect(line ?? `no "time elapsed" line in: ${JSON.stringify(run.stdout)}`).toMatch(/^\s*\d+ \d+\s*$/);
  const [shifted, elapsed] = line!.trim().split(' ').map(Number);
  expect(Math.abs(shifted - Date.now() - 10 * 60_000)).toBeLessThan(OFFSET_SLACK_MS);
  expect(elapsed).toBeGreaterThanOrEqual(190);
  expect(elapsed).toBeLessThan(5_000);
});

describe.each([
  ['10 minutes fast', '+10m', 10 * 60_000, '10 min ahead'],
  ['a day fast', '+1d', 24 * 3_600_000, '24.0 h ahead'],
  ['a day slow', '-1d', -24 * 3_600_000, '24.0 h behind'],
])('a device %s', (_label, offset, offsetMs, inWords) => {
  test('indexes, generates and edits a shared tag; every row reaches the correct device and back, the documented winner wins, and doctor names the wrong clock', async () => {
    const started = Date.now();
    const correct = await initDevice(CORRECT);
    const wrong = await initDevice(shiftedBy(offset), correct.libraryId);
    const files = folderOfFiles(12);
    await cli(['index', '--library', wrong.dir, files], wrong.launcher);
    await generate(wrong, 3, 300, 2);
    await generate(correct, 2, 100, 3);
    await cli(['tag', 'add', '--library', correct.dir, 'photos']);

    const [portA, portB, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const nodeB = new NodeProcess(wrong.dir, portB, [`127.0.0.1:${portA}`], [], wrong.launcher);
    const nodeA = new NodeProcess(
      correct.dir,
      portA,
      [nodeB.address],
      ['--metrics', `127.0.0.1:${metricsPort}`],
    );
    await nodeB.start();
    await nodeA.start();
    try {
      await waitFor(
        async () => (await inStep(correct, nodeB.address)) && (await inStep(wrong, nodeA.address)),
        90_000,
        'both devices to hold every row of the other',
      );
      const synced = Date.now() - started;

      // The wrong device's own rows, all of them, on the correct one: 12 files (+ 3 directories
      // and the root) indexed, 300 generated entries.
      const status = await cliJson<{
        counts: { resourceType: string; owner: string; rows: number }[];
        peerClocks: { peerDeviceId: string; offsetMs: number; beyondMaxDrift: boolean }[];
      }>(['status', '--library', correct.dir]);
      const entriesOfWrong = status.counts.find(
        (c) => c.resourceType === 'entry' && c.owner === wrong.deviceId,
      );
      expect(entriesOfWrong?.rows).toBeGreaterThanOrEqual(300 + 12);

      // `status` shows the offset; `doctor` names the device and says by how much.
      const measured = status.peerClocks.find((clock) => clock.peerDeviceId === wrong.deviceId);
      expect(Math.abs(measured!.offsetMs - offsetMs)).toBeLessThan(OFFSET_SLACK_MS);
      expect(measured!.beyondMaxDrift).toBe(true);
      expect(await cli(['status', '--library', correct.dir])).toContain(inWords);
      const doctor = await runCli(['doctor', '--library', correct.dir, '--json']);
      expect(doctor.code).toBe(1);
      const named = (
        JSON.parse(doctor.stdout) as { findings: { severity: string; check: string; message: string }[] }
      ).findings.filter((finding) => finding.check === 'peer clock');
      expect(named).toHaveLength(1);
      expect(named[0].severity).toBe('problem');
      expect(named[0].message).toContain(wrong.deviceId);
      expect(named[0].message).toContain(inWords);

      // The correct node's metrics: the peer's offset, and the rows stamped beyond the max drift.
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const gauge = sample(metrics, 'tidemark_peer_clock_offset_seconds', { peer: nodeB.address });
      expect(Math.abs(gauge! * 1000 - offsetMs)).toBeLessThan(OFFSET_SLACK_MS);
      if (offsetMs > MAX_DRIFT_MS)
        expect(sumOf(metrics, 'tidemark_hlc_beyond_drift_total')).toBeGreaterThanOrEqual(300 + 12);
      expect(nodeA.output).toContain("the peer's clock is");

      // Concurrent renames (neither device has seen the other's): the later stamp wins everywhere.
      await waitFor(
        async () => (await tagNames(wrong)).includes('photos'),
        30_000,
        'the tag on the wrong device',
      );
      await nodeA.stop();
      await nodeB.stop();
      await cli(['tag', 'rename', '--library', correct.dir, 'photos', 'renamed on the correct device']);
      await cli(
        ['tag', 'rename', '--library', wrong.dir, 'photos', 'renamed on the wrong device'],
        wrong.launcher,
      );
      await nodeB.start();
      await nodeA.start();
      const [winner, loser] = offsetMs > 0 ? [wrong, correct] : [correct, wrong];
      const winning = offsetMs > 0 ? 'renamed on the wrong device' : 'renamed on the correct device';
      await waitFor(
        async () => (await tagNames(loser)).includes(winning),
        60_000,
        `"${winning}" on both devices`,
      );
      expect(await tagNames(winner)).toEqual([winning]);

      // An edit made after seeing the winner wins everywhere, whatever the two clocks say.
      await cli(
        ['tag', 'rename', '--library', loser.dir, winning, 'renamed after seeing it'],
        loser.launcher,
      );
      await waitFor(
        async () => (await tagNames(winner)).includes('renamed after seeing it'),
        60_000,
        'the later edit on both devices',
      );
      await waitFor(
        async () => (await inStep(correct, nodeB.address)) && (await inStep(wrong, nodeA.address)),
        60_000,
        'both devices equal again',
      );

      // Nothing was rejected or retried on either side.
      for (const node of [nodeA, nodeB]) expect(node.output).not.toContain('batch rejected');
      process.stdout.write(
        `clock ${offset}: every row on both devices after ${synced} ms; the whole scenario took ${Date.now() - started} ms\n`,
      );
    } finally {
      await nodeA.stop();
      await nodeB.stop();
    }
  }, 240_000);
});

test('`tidemark sync` says how many rows came stamped beyond the max drift, how far ahead, and from which peer', async () => {
  const correct = await initDevice(CORRECT);
  const wrong = await initDevice(shiftedBy('+10m'), correct.libraryId);
  const third = await initDevice(CORRECT, correct.libraryId);
  const writtenFrom = Date.now();
  await generate(wrong, 1, 60, 21);
  await generate(correct, 1, 20, 22);
  const [portCorrect, portWrong] = [await freePort(), await freePort()];
  const nodeCorrect = new NodeProcess(correct.dir, portCorrect);
  const nodeWrong = new NodeProcess(wrong.dir, portWrong, [], [], wrong.launcher);
  await nodeCorrect.start();
  await nodeWrong.start();
  try {
    // From a peer whose clock is right: no such line.
    const fromCorrect = await cli([
      'sync',
      '--library',
      third.dir,
      '--peer',
      nodeCorrect.address,
      '--insecure',
    ]);
    expect(fromCorrect).toContain(`synced from ${nodeCorrect.address}`);
    expect(fromCorrect).not.toContain('beyond the max drift');
    await nodeCorrect.stop();

    const fromWrong = await cli([
      'sync',
      '--library',
      correct.dir,
      '--peer',
      nodeWrong.address,
      '--insecure',
    ]);
    const line = fromWrong.split('\n').find((text) => text.startsWith('clock: '));
    expect(line).toMatch(
      new RegExp(
        `^clock: (\\d+) rows from ${nodeWrong.address.replace(/\./g, '\\.')} \\(device ${wrong.deviceId}\\) ` +
          'were stamped beyond the max drift \\(5 min\\) ahead of this clock, the furthest (\\d+) min ahead;',
      ),
    );
    const rows = Number(/^clock: (\d+)/.exec(line!)![1]);
    // 10 minutes ahead when written, less the time since (a loaded machine takes its time).
    const minutesAhead = Number(/the furthest (\d+) min ahead/.exec(line!)![1]);
    expect(minutesAhead).toBeGreaterThan(5);
    expect(minutesAhead).toBeLessThanOrEqual(10);
    // Every row the fast device wrote: 60 entries, its volume, location, device row and more.
    expect(rows).toBeGreaterThanOrEqual(60 + 3);

    // The same in --json, from a device that pulls exactly the same rows.
    const json = await cliJson<{
      peerDeviceId: string;
      beyondDrift: { rows: number; maxAheadMs: number; maxDriftMs: number };
    }>(['sync', '--library', third.dir, '--peer', nodeWrong.address, '--insecure']);
    expect(json.peerDeviceId).toBe(wrong.deviceId);
    expect(json.beyondDrift.rows).toBe(rows);
    expect(json.beyondDrift.maxDriftMs).toBe(MAX_DRIFT_MS);
    expect(json.beyondDrift.maxAheadMs).toBeLessThan(10 * 60_000 + OFFSET_SLACK_MS);
    expect(json.beyondDrift.maxAheadMs).toBeGreaterThan(
      10 * 60_000 - (Date.now() - writtenFrom) - OFFSET_SLACK_MS,
    );
  } finally {
    await nodeCorrect.stop();
    await nodeWrong.stop();
  }
}, 240_000);

test('a chain of three devices at +4 min, 0 and -4 min converges with no type stalled', async () => {
  const started = Date.now();
  const fast = await initDevice(shiftedBy('+4m'));
  const middle = await initDevice(CORRECT, fast.libraryId);
  const slow = await initDevice(shiftedBy('-4m'), fast.libraryId);
  const devices = [fast, middle, slow];
  for (const [index, device] of devices.entries()) await generate(device, 2, 200, 10 + index);
  await cli(['tag', 'add', '--library', fast.dir, 'from the fast one'], fast.launcher);
  await cli(['tag', 'add', '--library', slow.dir, 'from the slow one'], slow.launcher);

  const ports = [await freePort(), await freePort(), await freePort()];
  const address = (index: number) => `127.0.0.1:${ports[index]}`;
  const nodes = [
    new NodeProcess(fast.dir, ports[0], [address(1)], [], fast.launcher),
    new NodeProcess(middle.dir, ports[1], [address(0), address(2)], [], middle.launcher),
    new NodeProcess(slow.dir, ports[2], [address(1)], [], slow.launcher),
  ];
  for (const node of nodes) await node.start();
  try {
    const allEqual = async () =>
      (await inStep(fast, address(1))) &&
      (await inStep(slow, address(1))) &&
      (await inStep(fast, address(2)));
    await waitFor(allEqual, 90_000, 'the three devices to hold the same rows');
    const first = Date.now() - started;

    // The middle device adopted the fast one's stamps (within the max drift), so its new tag is
    // stamped about 4 minutes ahead: 8 minutes ahead of the slow device, which applies it.
    await cli(['tag', 'add', '--library', middle.dir, 'from the middle']);
    await waitFor(
      async () => (await tagNames(slow)).includes('from the middle'),
      60_000,
      "the middle device's new tag on the slow one",
    );
    await waitFor(allEqual, 60_000, 'the three devices equal again');
    expect((await tagNames(fast)).sort()).toEqual([
      'from the fast one',
      'from the middle',
      'from the slow one',
    ]);

    for (const node of nodes) expect(node.output).not.toContain('batch rejected');
    expect(nodes[2].output).toContain('rows stamped beyond the max drift');
    process.stdout.write(
      `chain +4m/0/-4m: equal after ${first} ms, the whole scenario took ${Date.now() - started} ms\n`,
    );
  } finally {
    for (const node of nodes) await node.stop();
  }
}, 240_000);
