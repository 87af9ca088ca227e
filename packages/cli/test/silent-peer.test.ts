/**
 * A one-shot command against a peer that accepts connections and never answers (a node stopped
 * with SIGSTOP, a port held by something else): it fails with exit 4 once its deadline passes,
 * and the process ends. It used to print the deadline error and stay, held by the TLS handshake
 * still open.
 */
import * as net from 'node:net';
import { freePort, joinThrough, NodeProcess, removeTempDirs, runCli, runCliJson, tempDir } from './harness';

afterAll(removeTempDirs);

test('sync and verify against a peer that never answers exit 4 after the handshake deadline, with one line', async () => {
  const [dirA, dirB] = [tempDir(), tempDir()];
  await runCliJson(['init', '--library', dirA]);
  // A paired library: its sync uses mutual TLS, whose handshake is what never ends.
  const nodeA = new NodeProcess(dirA, await freePort());
  await nodeA.start(false);
  try {
    await joinThrough(dirA, nodeA, dirB);
  } finally {
    await nodeA.stop();
  }
  const sockets: net.Socket[] = [];
  const silent = net.createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as net.AddressInfo;
  try {
    // The handshake's deadline is 30 s; a process still there at 100 s hangs. verify starts
    // with a handshake too: its digest alone would wait 10 minutes.
    for (const command of ['sync', 'verify']) {
      const result = await runCli([command, '--library', dirB, '--peer', `127.0.0.1:${port}`], {
        timeoutMs: 100_000,
      });
      expect([command, result.code]).toEqual([command, 4]);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('DEADLINE_EXCEEDED');
    }
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
}, 300_000);
