import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, joinThrough, NodeProcess, removeTempDirs, runCli, runCliJson, tempDir } from './harness';

afterAll(removeTempDirs);

interface ListedInvite {
  inviteId: string;
  status: string;
  usedBy?: string;
  revokedAtMs?: number;
}

/** A new invite from the library in `dir`, for its running node's address. */
const issueInvite = (dir: string, node: NodeProcess) =>
  runCliJson<{ invite: string; inviteId: string }>(['invite', '--library', dir, '--address', node.address]);

/*
 * `tidemark invite list` and `invite revoke`, and `join` taking the invite from a file or from
 * standard input (an argument lands in the shell's history and in `ps`). Real processes, TLS.
 */
test('invites are listed and revoked; join reads the invite from a file or standard input', async () => {
  const dirA = tempDir();
  const a = await runCliJson<{ deviceId: string }>(['init', '--library', dirA]);
  const nodeA = new NodeProcess(dirA, await freePort());
  await nodeA.start(false);
  try {
    const issue = () => issueInvite(dirA, nodeA);
    const revoked = await issue();
    const viaStdin = await issue();

    // The human form prints the invite alone on stdout: redirected to a file, it is what join reads.
    const printed = await runCli(['invite', '--library', dirA, '--address', nodeA.address]);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/^tidemark-invite1\.[A-Za-z0-9_-]+\n$/);
    expect(printed.stderr).toMatch(/--invite-file/);
    const inviteFile = path.join(tempDir(), 'invite.txt');
    fs.writeFileSync(inviteFile, printed.stdout, { mode: 0o600 });

    let listed = await runCliJson<ListedInvite[]>(['invite', 'list', '--library', dirA]);
    expect(listed.map((invite) => invite.status)).toEqual(['open', 'open', 'open']);

    const revoke = await runCliJson<{ revoked: boolean }>([
      'invite',
      'revoke',
      '--library',
      dirA,
      revoked.inviteId,
    ]);
    expect(revoke.revoked).toBe(true);
    const again = await runCli(['invite', 'revoke', '--library', dirA, revoked.inviteId]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already revoked/);

    // The revoked invite is refused at Pair, and says why.
    const refused = await runCli(['join', '--library', tempDir(), '-'], { input: `${revoked.invite}\n` });
    expect(refused.code).toBe(5);
    expect(refused.stderr).toMatch(/revoked/);

    const fromStdin = await runCliJson<{ deviceId: string; inviter: string }>(
      ['join', '--library', tempDir()],
      viaStdin.invite,
    );
    expect(fromStdin.inviter).toBe(a.deviceId);
    const fromFile = await runCliJson<{ deviceId: string; inviter: string }>([
      'join',
      '--library',
      tempDir(),
      '--invite-file',
      inviteFile,
    ]);
    expect(fromFile.inviter).toBe(a.deviceId);

    listed = await runCliJson<ListedInvite[]>(['invite', 'list', '--library', dirA]);
    const byId = new Map(listed.map((invite) => [invite.inviteId, invite]));
    expect(byId.get(revoked.inviteId)).toMatchObject({ status: 'revoked', revokedAtMs: expect.any(Number) });
    expect(byId.get(viaStdin.inviteId)).toMatchObject({ status: 'used', usedBy: fromStdin.deviceId });
    expect(
      listed
        .filter((invite) => invite.status === 'used')
        .map((invite) => invite.usedBy)
        .sort(),
    ).toEqual([fromStdin.deviceId, fromFile.deviceId].sort());

    const table = await runCli(['invite', 'list', '--library', dirA]);
    expect(table.stdout).toMatch(/invite\s+created\s+expires\s+status\s+used by/);
    expect(table.stdout).toContain(`revoked `);
    expect(table.stdout).toContain(fromFile.deviceId);

    // A used invite is not revoked (its device is removed instead); an unknown one is not found.
    const used = await runCli(['invite', 'revoke', '--library', dirA, viaStdin.inviteId]);
    expect(used.code).toBe(2);
    expect(used.stderr).toMatch(/peer remove/);
    const unknown = await runCli([
      'invite',
      'revoke',
      '--library',
      dirA,
      '00000000-0000-4000-8000-000000000000',
    ]);
    expect(unknown.code).toBe(3);

    // No invite at all, and two at once, are usage errors.
    expect((await runCli(['join', '--library', tempDir()], { input: '\n' })).code).toBe(2);
    const both = await runCli(['join', '--library', tempDir(), '--invite-file', inviteFile, viaStdin.invite]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/not both/);
    expect((await runCli(['invite', '--library', dirA])).stderr).toMatch(/--address/);
  } finally {
    await nodeA.stop();
  }
});

/*
 * A device that is already a member, joining again (with a new invite, or with another member),
 * is answered as paired, but the inviter adds no one and leaves the invite unused, and the join
 * says so. It used to spend the invite and print nothing of it (and ignore --name silently).
 */
test('a member joining again is told so, and the invite stays open for a new device', async () => {
  const [dirA, dirB] = [tempDir(), tempDir()];
  await runCliJson(['init', '--library', dirA]);
  const nodeA = new NodeProcess(dirA, await freePort());
  await nodeA.start(false);
  try {
    const { deviceId } = await joinThrough(dirA, nodeA, dirB);
    expect((await runCli(['sync', '--library', dirB, '--peer', nodeA.address])).code).toBe(0);
    const issue = () => issueInvite(dirA, nodeA);
    const first = await issue();
    const again = await runCliJson<{ deviceId: string; created: boolean; alreadyMember: boolean }>(
      ['join', '--library', dirB, '--name', 'renamed', '--json'],
      first.invite,
    );
    expect(again).toMatchObject({ deviceId, created: false, alreadyMember: true });
    const second = await issue();
    const text = await runCli(['join', '--library', dirB, '-'], { input: `${second.invite}\n` });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /this device was already a member: nobody was added and the invite was left unused/,
    );
    const listed = await runCliJson<ListedInvite[]>(['invite', 'list', '--library', dirA]);
    for (const { inviteId } of [first, second]) {
      expect(listed.find((listedInvite) => listedInvite.inviteId === inviteId)?.status).toBe('open');
    }
    // A new device still joins with it, and is added.
    const fresh = await runCliJson<{ deviceId: string; alreadyMember: boolean }>(
      ['join', '--library', tempDir(), '--json'],
      first.invite,
    );
    expect(fresh.alreadyMember).toBe(false);
    expect(fresh.deviceId).not.toBe(deviceId);
  } finally {
    await nodeA.stop();
  }
});

/*
 * The first invite of a new library founds its membership. Several `tidemark invite` run at
 * once on a new library (a script inviting two devices) each read "no membership yet" before
 * any founded it; the later ones then failed ("this library already has a membership; only a
 * new library is founded", exit 2) instead of issuing their invite.
 */
test('invites issued at once on a new library all succeed, and the library is founded once', async () => {
  for (let round = 0; round < 3; round++) {
    const dir = tempDir();
    const { deviceId } = await runCliJson<{ deviceId: string }>(['init', '--library', dir]);
    const address = `127.0.0.1:${await freePort()}`;
    const results = await Promise.all(
      Array.from({ length: 6 }, () => runCli(['invite', '--library', dir, '--address', address, '--json'])),
    );
    for (const result of results) {
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    }
    const listed = await runCliJson<ListedInvite[]>(['invite', 'list', '--library', dir]);
    expect(listed.map((invite) => invite.status)).toEqual(Array(6).fill('open'));
    const members = await runCliJson<{ deviceId: string; addedBy: string }[]>([
      'peer',
      'list',
      '--library',
      dir,
    ]);
    expect(members).toMatchObject([{ deviceId, addedBy: deviceId }]);
  }
}, 120_000);
