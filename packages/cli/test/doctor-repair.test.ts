import { Library, readLocationsOfDevice } from '@tidemark/engine';
import { forgetRows } from '@tidemark/engine/testing';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, NodeProcess, removeTempDirs, runCli, runCliJson, tempDir } from './harness';

afterAll(removeTempDirs);

interface DoctorJson {
  problems: number;
  findings: { severity: string; check: string; message: string }[];
}

test('doctor and verify catch rows missing behind a caught-up watermark, and repair restores them', async () => {
  const [dirA, dirB] = [tempDir(), tempDir()];
  const { libraryId, deviceId } = await runCliJson<{ libraryId: string; deviceId: string }>([
    'init',
    '--library',
    dirA,
  ]);
  await runCliJson(['init', '--library', dirB, '--library-id', libraryId]);
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
