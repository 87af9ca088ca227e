import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { createMemberFiles, removeTempDirs } from './helpers';

const DIST = path.join(__dirname, '..', 'dist', 'index.js');

afterAll(removeTempDirs);

/** Runs runNodeProcess from the built package in a child process, as the CLI does. */
test('runNodeProcess logs "listening" as a JSON line and exits 0 on SIGTERM', async () => {
  expect(fs.existsSync(DIST)).toBe(true); // build first: npx nx run-many -t build
  const [file] = await createMemberFiles(1);
  const config = { libraryFile: file, listen: '127.0.0.1:0', metrics: '127.0.0.1:0', insecure: true };
  const script = `require(${JSON.stringify(DIST)}).runNodeProcess(${JSON.stringify(config)}).catch((e) => { console.error(e); process.exit(2); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines: { [field: string]: unknown }[] = [];
  const listening = new Promise<{ [field: string]: unknown }>((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== 'object' || parsed === null)
        return reject(new Error(`not a JSON object: ${line}`));
      const record = parsed as { [field: string]: unknown };
      lines.push(record);
      if (record.msg === 'listening') resolve(record);
    });
    void exited.then((code) => reject(new Error(`exited with ${code} before listening: ${stderr.join('')}`)));
  });
  const line = await listening;
  expect(line.address).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(line.address).not.toBe('127.0.0.1:0');
  expect(line.metricsAddress).toMatch(/^127\.0\.0\.1:\d+$/);
  const metrics = await fetch(`http://${String(line.metricsAddress)}/metrics`);
  expect(metrics.status).toBe(200);

  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(lines.map((record) => record.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
});
