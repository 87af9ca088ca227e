import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, NodeProcess, removeTempDirs, runCli, runCliJson, tempDir, waitFor } from './harness';

afterAll(removeTempDirs);

interface Member {
  deviceId: string;
  name: string;
  addedBy: string;
  self: boolean;
  removed: boolean;
}

const others = (members: readonly Member[]) => members.filter((member) => !member.self);

test('init, invite, join over TLS, sync, peer list, rename and remove', async () => {
  const dirA = tempDir();
  const dirB = tempDir();
  const a = await runCliJson<{ libraryId: string; deviceId: string; fingerprint: string }>([
    'init',
    '--library',
    dirA,
  ]);
  expect(fs.statSync(path.join(dirA, 'device-key.pem')).mode & 0o777).toBe(0o600);
  expect(
    (await runCli(['generate', '--library', dirA, '--volumes', '1', '--locations', '2', '--entries', '40']))
      .code,
  ).toBe(0);

  // TLS node: no --insecure.
  const nodeA = new NodeProcess(dirA, await freePort(), [], []);
  await nodeA.start(false);
  try {
    const invite = await runCliJson<{ invite: string }>([
      'invite',
      '--library',
      dirA,
      '--address',
      nodeA.address,
      '--ttl',
      '5m',
    ]);
    const joined = await runCliJson<{
      libraryId: string;
      deviceId: string;
      inviter: string;
      created: boolean;
    }>(['join', '--library', dirB, invite.invite]);
    expect(joined).toMatchObject({ libraryId: a.libraryId, inviter: a.deviceId, created: true });

    const reused = await runCli(['join', '--library', tempDir(), invite.invite]);
    expect(reused.code).toBe(5);
    expect(reused.stderr).toMatch(/already used/);

    // The joiner syncs over mutual TLS; verify agrees.
    expect((await runCli(['sync', '--library', dirB, '--peer', nodeA.address])).code).toBe(0);
    expect((await runCli(['verify', '--library', dirB, '--peer', nodeA.address])).code).toBe(0);

    const membersOfA = await runCliJson<Member[]>(['peer', 'list', '--library', dirA]);
    expect(others(membersOfA).map((m) => ({ deviceId: m.deviceId, addedBy: m.addedBy }))).toEqual([
      { deviceId: joined.deviceId, addedBy: a.deviceId },
    ]);

    // A rename is signed by A and reaches B by sync; B cannot rename itself, nor A a stranger.
    const renamed = await runCliJson<{ renamed: string; name: string }>([
      'peer',
      'rename',
      '--library',
      dirA,
      joined.deviceId,
      'nas',
    ]);
    expect(renamed).toEqual({ renamed: joined.deviceId, name: 'nas' });
    expect(others(await runCliJson<Member[]>(['peer', 'list', '--library', dirA]))).toMatchObject([
      { deviceId: joined.deviceId, name: 'nas' },
    ]);
    expect((await runCli(['sync', '--library', dirB, '--peer', nodeA.address])).code).toBe(0);
    const selfOfB = (await runCliJson<Member[]>(['peer', 'list', '--library', dirB])).find((m) => m.self);
    expect(selfOfB).toMatchObject({ deviceId: joined.deviceId, name: 'nas' });
    const itself = await runCli(['peer', 'rename', '--library', dirB, joined.deviceId, 'mine']);
    expect(itself.code).toBe(2);
    expect(itself.stderr).toMatch(/cannot rename itself/);
    const stranger = await runCli([
      'peer',
      'rename',
      '--library',
      dirA,
      '8d2f0a4e-1c3b-8a5d-9e7f-0123456789ab',
      'x',
    ]);
    expect(stranger.code).toBe(3);
    expect(stranger.stderr).toMatch(/is not a current member/);

    expect((await runCli(['peer', 'remove', '--library', dirA, joined.deviceId])).code).toBe(0);
    await waitFor(
      async () => (await runCli(['sync', '--library', dirB, '--peer', nodeA.address])).code === 5,
      60_000,
      'the removed device to be refused',
    );
    expect(others(await runCliJson<Member[]>(['peer', 'list', '--library', dirA]))).toEqual([]);
    const all = await runCliJson<Member[]>(['peer', 'list', '--library', dirA, '--all']);
    expect(others(all)).toMatchObject([{ deviceId: joined.deviceId, removed: true }]);
  } finally {
    await nodeA.stop();
  }
});

test('--insecure is refused for addresses other than loopback', async () => {
  const dir = tempDir();
  await runCli(['init', '--library', dir]);
  const result = await runCli(['sync', '--library', dir, '--peer', '192.0.2.1:7400', '--insecure']);
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/loopback/);
});
