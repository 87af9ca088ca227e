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
