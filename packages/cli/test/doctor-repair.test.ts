import { Library, readLocationsOfDevice } from '@tidemark/engine';
import { forgetRows } from '@tidemark/engine/testing';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectLibfaketime, shiftedBy } from './faketime';
import {
  freePort,
  initDevicesOfOneLibrary,
  joinThrough,
  NodeProcess,
  removeTempDirs,
  runCli,
  runCliJson,
  sqliteExec,
  tempDir,
  waitFor,
} from './harness';

afterAll(removeTempDirs);

interface DoctorJson {
  problems: number;
  findings: { severity: string; check: string; message: string }[];
}

test('doctor and verify catch rows missing behind a caught-up watermark, and repair restores them', async () => {
  const {
    dirs: [dirA, dirB],
    deviceId,
  } = await initDevicesOfOneLibrary(2);
  await runCli(['generate', '--library', dirA, '--volumes', '5', '--locations', '100', '--entries', '3000']);
  const nodeA = new NodeProcess(dirA, await freePort());
  await nodeA.start();
  try {
    expect((await runCli(['sync', '--library', dirB, '--peer', nodeA.address, '--insecure'])).code).toBe(0);
    expect((await runCli(['doctor', '--library', dirB])).code).toBe(0);

    // The seed bug's outcome, made by hand: locations gone while the watermark says caught up.
    const library = await Library.open(Library.fileIn(dirB));
    const locations = await readLocationsOfDevice(library, deviceId);
    await forgetRows(
      library,
      'location',
      locations.filter((_, index) => index % 10 === 0).map((location) => location.uuid),
    );
    await library.close();

    const doctor = await runCli(['doctor', '--library', dirB, '--json']);
    expect(doctor.code).toBe(1);
    const report = JSON.parse(doctor.stdout) as DoctorJson;
    expect(report.findings.filter((f) => f.severity === 'problem').map((f) => f.check)).toEqual([
      'watermark ahead of data',
    ]);
    expect(report.findings.find((f) => f.severity === 'problem')?.message).toContain('location');

    const verify = await runCli(['verify', '--library', dirB, '--peer', nodeA.address, '--insecure']);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain('different: location');

    const repair = await runCli(['repair', '--library', dirB, '--peer', nodeA.address, '--insecure']);
    expect(repair.stdout).toContain('re-synced from zero: location');
    expect(repair.code).toBe(0);
    expect((await runCli(['verify', '--library', dirB, '--peer', nodeA.address, '--insecure'])).code).toBe(0);
    expect((await runCli(['doctor', '--library', dirB])).code).toBe(0);
  } finally {
    await nodeA.stop();
  }
});

test('doctor explains an unmigrated legacy global-watermark library, and the migration it got', async () => {
  const dir = tempDir();
  const fixture = path.join(
    __dirname,
    '..',
    '..',
    'engine',
    'test',
    'fixtures',
    'legacy-global-watermark-v0.db',
  );
  fs.copyFileSync(fixture, Library.fileIn(dir));

  const before = await runCli(['doctor', '--library', dir]);
  expect(before.code).toBe(1);
  expect(before.stdout).toContain('legacy global watermark');

  expect((await runCli(['status', '--library', dir])).code).toBe(0); // opening migrates it
  const after = JSON.parse((await runCli(['doctor', '--library', dir, '--json'])).stdout) as DoctorJson;
  expect(after.findings.filter((f) => f.check === 'legacy migration').length).toBeGreaterThan(0);
  expect(after.findings.find((f) => f.check === 'legacy migration')?.message).toContain(
    'restarted from zero',
  );
});

interface StatusJson {
  deviceId: string;
  counts: { resourceType: string; owner: string; rows: number }[];
}

/** Rows of `type` on the device at `dir` written by `owner`. */
async function ownedRows(dir: string, type: string, owner: string): Promise<number> {
  const status = await runCliJson<StatusJson>(['status', '--library', dir]);
  return status.counts.find((c) => c.resourceType === type && c.owner === owner)?.rows ?? 0;
}

const ownRowFindings = (report: DoctorJson) =>
  report.findings.filter((f) => f.check === "rows in this device's name");

test('a device restored from a backup gets its own rows back from a peer only with repair --adopt-own; doctor counts them until then', async () => {
  const [dirA, dirB] = [tempDir(), tempDir()];
  await runCliJson(['init', '--library', dirA]);
  const nodeA = new NodeProcess(dirA, await freePort());
  await nodeA.start(false); // mutual TLS
  const nodeB = new NodeProcess(dirB, await freePort());
  try {
    const { deviceId: b } = await joinThrough(dirA, nodeA, dirB);
    expect((await runCli(['sync', '--library', dirB, '--peer', nodeA.address])).code).toBe(0);

    // The backup, taken with no process holding the library open.
    const fileB = Library.fileIn(dirB);
    const backup = path.join(tempDir(), 'library.db');
    expect(fs.existsSync(`${fileB}-wal`) && fs.statSync(`${fileB}-wal`).size > 0).toBe(false);
    fs.copyFileSync(fileB, backup);

    // B writes, and A takes B's rows.
    await runCli(['generate', '--library', dirB, '--volumes', '1', '--locations', '3', '--entries', '50']);
    await nodeB.start(false);
    expect((await runCli(['sync', '--library', dirA, '--peer', nodeB.address])).code).toBe(0);
    await nodeB.stop();
    expect(await ownedRows(dirA, 'entry', b)).toBe(50);

    // B is restored from the backup: its entries now live only on A. The copy is renamed over the
    // file, a new file (a new inode) while the old one still exists, so the engine sees a restore
    // and takes a new epoch (how a restore is detected: docs/architecture.md, "Epochs never skip").
    for (const file of [`${fileB}-wal`, `${fileB}-shm`]) fs.rmSync(file, { force: true });
    fs.copyFileSync(backup, `${fileB}.restoring`);
    fs.renameSync(`${fileB}.restoring`, fileB);
    expect(await ownedRows(dirB, 'entry', b)).toBe(0);

    // A plain sync does not take rows in B's name from A; it says so, and doctor counts them per type.
    const synced = await runCli(['sync', '--library', dirB, '--peer', nodeA.address]);
    expect(synced.code).toBe(0);
    const notTaken = /not taken: (\d+) rows in this device's own name/.exec(synced.stdout);
    expect(notTaken?.[1]).toBeDefined();
    expect(await ownedRows(dirB, 'entry', b)).toBe(0);
    const before = await runCli(['doctor', '--library', dirB, '--json']);
    expect(before.code).toBe(1);
    const counted = ownRowFindings(JSON.parse(before.stdout) as DoctorJson);
    expect(counted.every((f) => f.severity === 'problem' && f.message.includes('--adopt-own'))).toBe(true);
    const perType = Object.fromEntries(
      counted.map((f) => [/ (\w+) rows? written in this device's own name/.exec(f.message)![1], f.message]),
    );
    expect(perType.entry).toMatch(/^50 entry rows .*sent by peer /);
    expect(perType.volume).toMatch(/^1 volume row /);
    expect(perType.location).toMatch(/^3 location rows /);
    const countedRows = counted.reduce((sum, f) => sum + Number(/^(\d+)/.exec(f.message)![1]), 0);
    expect(countedRows).toBe(Number(notTaken![1]));
    const human = await runCli(['doctor', '--library', dirB]);
    expect(human.stdout).toMatch(
      /PROBLEM {2}rows in this device's name: 50 entry rows written in this device's own name/,
    );

    // A plain repair does not take them either: own rows are not its business.
    const plain = await runCli(['repair', '--library', dirB, '--peer', nodeA.address]);
    expect(plain.code).toBe(0);
    expect(await ownedRows(dirB, 'entry', b)).toBe(0);
    expect(
      ownRowFindings(
        JSON.parse((await runCli(['doctor', '--library', dirB, '--json'])).stdout) as DoctorJson,
      ),
    ).toHaveLength(counted.length);

    // --adopt-own takes them back, and doctor has nothing left to say about them.
    const adopted = await runCli(['repair', '--library', dirB, '--peer', nodeA.address, '--adopt-own']);
    expect(adopted.stdout).toContain('re-synced from zero: ');
    expect(adopted.stdout).toContain('repaired: every resource type is equal');
    expect(adopted.stdout).not.toContain('not taken');
    expect(adopted.code).toBe(0);
    expect(await ownedRows(dirB, 'entry', b)).toBe(50);
    expect(await ownedRows(dirB, 'location', b)).toBe(3);
    const after = await runCli(['doctor', '--library', dirB, '--json']);
    expect(ownRowFindings(JSON.parse(after.stdout) as DoctorJson)).toEqual([]);
    expect(after.code).toBe(0);
    expect((await runCli(['verify', '--library', dirB, '--peer', nodeA.address])).code).toBe(0);
  } finally {
    await nodeB.stop();
    await nodeA.stop();
  }
}, 180_000);

test('doctor reports a database too damaged for its integrity check as a problem (exit 1), not an internal error', async () => {
  const dir = tempDir();
  await runCli(['init', '--library', dir]);
  await runCli(['generate', '--library', dir, '--volumes', '2', '--locations', '10', '--entries', '3000']);
  // Pages near the end (entries), far from what opening reads, overwritten with garbage.
  const file = path.join(dir, 'library.db');
  const { size } = fs.statSync(file);
  const handle = fs.openSync(file, 'r+');
  for (let page = 3; page <= 10; page++)
    fs.writeSync(handle, Buffer.alloc(4096, 0xde), 0, 4096, size - page * 4096);
  fs.closeSync(handle);
  const doctor = await runCli(['doctor', '--library', dir]);
  expect(doctor.code).toBe(1);
  expect(doctor.stdout).toMatch(/PROBLEM\s+integrity: .*(malformed|corrupt)/i);
  expect(doctor.stderr).toBe('');
});

test("status and doctor refuse another program's SQLite database and leave it as it was", async () => {
  const dir = tempDir();
  const file = path.join(dir, 'library.db');
  // Any SQLite file that is not a library: here one with a table of its own, made by sqlite3.
  await sqliteExec(file, 'CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)');
  const before = fs.readFileSync(file);
  for (const command of ['status', 'doctor']) {
    const result = await runCli([command, '--library', dir]);
    expect([command, result.code]).toEqual([command, 3]);
    expect(result.stderr).toContain('has no library identity');
  }
  expect(fs.readFileSync(file).equals(before)).toBe(true);
  expect(fs.readdirSync(dir)).toEqual(['library.db']);
});

const doctorOf = async (dir: string) => {
  const run = await runCli(['doctor', '--library', dir, '--json']);
  return { code: run.code, report: JSON.parse(run.stdout) as DoctorJson };
};

test('after repair converges a type the node found different, doctor no longer reports that type as different', async () => {
  const {
    dirs: [dirA, dirB],
  } = await initDevicesOfOneLibrary(2);
  await runCli(['generate', '--library', dirA, '--volumes', '1', '--locations', '2', '--entries', '200']);
  const nodeA = new NodeProcess(dirA, await freePort());
  await nodeA.start();
  const nodeB = new NodeProcess(dirB, await freePort(), [nodeA.address]);
  try {
    expect((await runCli(['sync', '--library', dirB, '--peer', nodeA.address, '--insecure'])).code).toBe(0);
    // B loses rows behind its caught-up watermark (written by another program).
    await sqliteExec(
      path.join(dirB, 'library.db'),
      'DELETE FROM entries WHERE rowid IN (SELECT rowid FROM entries ORDER BY rowid LIMIT 7)',
    );
    // B's node compares digests after its (empty) backfill and stores the difference for doctor.
    await nodeB.start();
    await waitFor(
      async () => (await doctorOf(dirB)).report.findings.some((f) => f.check === 'digest'),
      60_000,
      "B's doctor to report the entry digest",
      500,
    );
    await nodeB.stop();

    const repair = await runCli(['repair', '--library', dirB, '--peer', nodeA.address, '--insecure']);
    expect(repair.stdout).toContain('repaired: every resource type is equal');
    expect(repair.code).toBe(0);
    expect((await runCli(['verify', '--library', dirB, '--peer', nodeA.address, '--insecure'])).code).toBe(0);

    const doctor = await doctorOf(dirB);
    expect(doctor.report.findings.filter((f) => f.severity === 'problem')).toEqual([]);
    expect(doctor.code).toBe(0);
  } finally {
    await nodeB.stop();
    await nodeA.stop();
  }
}, 180_000);

test("doctor stops blaming a removed device's clock once that device is removed from the library", async () => {
  expectLibfaketime();
  const dirA = tempDir();
  const dirB = tempDir();
  await runCliJson(['init', '--library', dirA]);
  const nodeA = new NodeProcess(dirA, await freePort());
  await nodeA.start(false);
  const nodeB = new NodeProcess(dirB, await freePort(), [], [], shiftedBy('+20m'));
  try {
    const { deviceId: deviceB } = await joinThrough(dirA, nodeA, dirB);
    await nodeB.start(false);
    // A pulls from B: its handshake measures B's clock, 20 minutes ahead.
    const sync = await runCli(['sync', '--library', dirA, '--peer', nodeB.address]);
    expect(sync.code).toBe(0);
    const before = await doctorOf(dirA);
    expect(before.code).toBe(1);
    expect(
      before.report.findings
        .filter((f) => f.severity === 'problem')
        .map((f) => [f.check, f.message.includes(deviceB)]),
    ).toEqual([['peer clock', true]]);

    // The user removes that device from the library: nothing left to fix about its clock.
    expect((await runCli(['peer', 'remove', '--library', dirA, deviceB])).code).toBe(0);
    const after = await doctorOf(dirA);
    expect(after.report.findings.filter((f) => f.severity === 'problem')).toEqual([]);
    expect(after.code).toBe(0);
  } finally {
    await nodeB.stop();
    await nodeA.stop();
  }
}, 180_000);

test('doctor reports rows whose HLC stamp was damaged outside tidemark as a problem (exit 1), not as bad arguments (exit 2)', async () => {
  const {
    dirs: [dirA],
  } = await initDevicesOfOneLibrary(1);
  await runCli(['generate', '--library', dirA, '--volumes', '1', '--locations', '1', '--entries', '20']);
  await sqliteExec(
    path.join(dirA, 'library.db'),
    "UPDATE entries SET hlc = 'zzzzzzzzzzzzzzzz' WHERE rowid = (SELECT min(rowid) FROM entries)",
  );
  const doctor = await runCli(['doctor', '--library', dirA, '--json']);
  expect(doctor.stderr).toBe('');
  expect(doctor.code).toBe(1);
  const report = JSON.parse(doctor.stdout) as DoctorJson;
  const problems = report.findings.filter((f) => f.severity === 'problem');
  expect(problems.map((f) => f.check)).toEqual(['stamps']);
  expect(problems[0].message).toMatch(/^1 entry row\(s\) and 0 tombstone\(s\)/);
}, 60_000);
