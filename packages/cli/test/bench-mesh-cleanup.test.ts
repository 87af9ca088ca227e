import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const BENCH = path.join(__dirname, '..', 'dist', 'bench', 'main.js');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers signal 0; it runs no more.
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A node of the mesh bench dies while every device writes its live rows (the bench's writers
 * still running): the bench must fail with a line naming the node, and take every other node
 * process and its directories with it. Before the fix the failed scrape was an unhandled
 * rejection: the bench process died at once and the other nodes ran on.
 */
(fs.existsSync('/proc/self/status') ? test : test.skip)(
  'a mesh bench whose node dies in the live phase leaves no node running and no directory behind',
  async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mesh-cleanup-'));
    const bench = spawn(
      process.execPath,
      [BENCH, '--mesh', '3', '--entries', '20000', '--out', path.join(out, 'mesh.json')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    bench.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    bench.stdout.resume();
    const exited = new Promise<number | null>((resolve) => bench.once('exit', (code) => resolve(code)));
    let pids: number[] = [];
    try {
      await until(() => /nodes started in /.test(stderr), 240_000, 'the nodes to start');
      const started = /nodes started in (\S+): (.*)/.exec(stderr)!;
      const workDir = started[1];
      pids = [...started[2].matchAll(/pid (\d+)/g)].map((match) => Number(match[1]));
      expect(pids).toHaveLength(3);
      expect(pids.every(alive)).toBe(true);

      await until(() => stderr.includes('live: every device writes'), 600_000, 'the live phase');
      process.kill(pids[1], 'SIGKILL');

      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the bench did not end; stderr:\n${stderr}`)), 120_000);
        }),
      ]).finally(() => clearTimeout(timer));
      expect(code).toBe(1);
      expect(stderr).toMatch(
        new RegExp(`bench failed: .*N1 \\(pid ${pids[1]}, metrics :\\d+\\) killed by SIGKILL`),
      );
      await until(() => !pids.some(alive), 10_000, 'every node to be gone');
      expect(fs.existsSync(workDir)).toBe(false);
    } finally {
      bench.kill('SIGKILL');
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
      fs.rmSync(out, { recursive: true, force: true });
    }
  },
  900_000,
);
