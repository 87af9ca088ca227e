import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { BIN, freePort, NodeProcess, removeTempDirs, runCli, runCliJson, tempDir, waitFor } from './harness';

afterAll(removeTempDirs);

/** Every name under `dir` (recursively, relative), with a hash of each file's bytes. */
function snapshot(dir: string): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, name);
    entries[name] = fs.statSync(file).isDirectory()
      ? '<dir>'
      : createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  }
  return entries;
}

/*
 * A join that fails (a rejected invite, an unreachable inviter) leaves the directory as it found
 * it: what it made (library.db, the device key and certificate, the directory itself) is removed,
 * and a library that was there before is not touched. The next join into it then starts afresh.
 */
test('a failed join leaves the library directory as it found it', async () => {
  const dirA = tempDir();
  const a = await runCliJson<{ libraryId: string; deviceId: string }>(['init', '--library', dirA]);
  const nodeA = new NodeProcess(dirA, await freePort());
  await nodeA.start(false);
  try {
    const issue = (address = nodeA.address) =>
      runCliJson<{ invite: string; inviteId: string }>(['invite', '--library', dirA, '--address', address]);
    const revoked = await issue();
    expect((await runCli(['invite', 'revoke', '--library', dirA, revoked.inviteId])).code).toBe(0);
    // Nothing listens there: the inviter cannot be reached.
    const unreachable = await issue(`127.0.0.1:${await freePort()}`);

    const parent = tempDir();
    const nested = path.join(parent, 'new', 'library');
    const empty = tempDir();
    const withFile = tempDir();
    fs.writeFileSync(path.join(withFile, 'notes.txt'), 'kept\n');
    // A library that was there before: a failed join must not delete it.
    const existing = tempDir();
    await runCliJson(['init', '--library', existing, '--library-id', a.libraryId]);
    const before = snapshot(existing);

    for (const [invite, code, says] of [
      [revoked.invite, 5, /revoked/],
      [unreachable.invite, 4, /cannot reach the inviter/],
    ] as const) {
      for (const dir of [nested, empty, withFile, existing]) {
        const result = await runCli(['join', '--library', dir, '-'], { input: `${invite}\n` });
        expect({ dir, code: result.code, stderr: result.stderr }).toEqual({
          dir,
          code,
          stderr: expect.stringMatching(says),
        });
      }
      // The directories the join made are gone, up to the one that was there.
      expect(fs.readdirSync(parent)).toEqual([]);
      expect(fs.readdirSync(empty)).toEqual([]);
      expect(fs.readdirSync(withFile)).toEqual(['notes.txt']);
      expect(snapshot(existing)).toEqual(before);
    }
    expect((await runCli(['status', '--library', existing])).code).toBe(0);

    // A good invite into the directory a failed join used makes a new library there.
    const joined = await runCliJson<{ created: boolean; inviter: string }>(
      ['join', '--library', empty],
      (await issue()).invite,
    );
    expect(joined).toMatchObject({ created: true, inviter: a.deviceId });

    // Interrupted while it waits for an inviter that accepts and never answers: the same.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as net.AddressInfo;
      const stuck = await issue(`127.0.0.1:${port}`);
      const child = spawn(process.execPath, [BIN, 'join', '--library', nested, '-'], {
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      child.stdin.end(`${stuck.invite}\n`);
      const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
      await waitFor(
        async () => fs.existsSync(path.join(nested, 'device-key.pem')),
        30_000,
        'the join to start',
      );
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(fs.readdirSync(parent)).toEqual([]);
    } finally {
      silent.close();
    }
  } finally {
    await nodeA.stop();
  }
});
