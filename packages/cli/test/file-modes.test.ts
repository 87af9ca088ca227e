import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeTempDirs, runCli, runCliJson, tempDir } from './harness';

afterAll(removeTempDirs);

interface DoctorJson {
  findings: { severity: string; check: string; message: string }[];
}

const modeOf = (target: string) => fs.statSync(target).mode & 0o777;

test('init makes the library directory 0700 and the database 0600; doctor warns when they are wider', async () => {
  const dir = path.join(tempDir(), 'new', 'library');
  await runCliJson(['init', '--library', dir]);
  const file = path.join(dir, 'library.db');
  expect(modeOf(dir).toString(8)).toBe('700');
  expect(modeOf(file).toString(8)).toBe('600');

  const clean = JSON.parse((await runCli(['doctor', '--library', dir, '--json'])).stdout) as DoctorJson;
  expect(clean.findings.find((f) => f.check === 'file modes')).toMatchObject({ severity: 'ok' });

  fs.chmodSync(dir, 0o755);
  fs.chmodSync(file, 0o644);
  const doctor = await runCli(['doctor', '--library', dir]);
  expect(doctor.code).toBe(0);
  expect(doctor.stdout).toContain(`${dir} is 0755 (run: chmod 700 ${dir})`);
  expect(doctor.stdout).toContain(`${file} is 0644 (run: chmod 600 ${file})`);
});
