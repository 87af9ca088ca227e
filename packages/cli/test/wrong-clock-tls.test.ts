/**
 * Pairing and TLS sync between devices whose wall clocks disagree by days (docs/architecture.md,
 * "Clocks": a wrong clock must never stall a stream). Trust is the pinned fingerprint of each
 * device's self-signed certificate, so no clock may make a member's certificate "not yet valid":
 * not the clock of the device that made it at `tidemark init`, nor that of the device that checks it.
 */
import { CORRECT, expectLibfaketime, shiftedBy } from './faketime';
import { freePort, Launcher, NodeProcess, removeTempDirs, runCli, tempDir } from './harness';

afterAll(removeTempDirs);

async function cli(args: readonly string[], launcher: Launcher, input?: string): Promise<string> {
  const result = await runCli(args, { launcher, input });
  if (result.code !== 0) {
    throw new Error(`tidemark ${args.join(' ')} exited ${result.code}:\n${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

/**
 * `inviter` is made by `tidemark init` under `initClock`, then serves a TLS node under the correct
 * clock; a new device joins it and syncs under `joinerClock`.
 */
async function pairAndSync(initClock: Launcher, joinerClock: Launcher): Promise<void> {
  expectLibfaketime();
  const inviter = tempDir();
  const joiner = tempDir();
  await cli(['init', '--library', inviter], initClock);
  await cli(['tag', 'add', '--library', inviter, 'from the inviter'], CORRECT);
  const node = new NodeProcess(inviter, await freePort());
  await node.start(false);
  try {
    const { invite } = JSON.parse(
      await cli(['invite', '--library', inviter, '--address', node.address, '--json'], CORRECT),
    ) as { invite: string };
    await cli(['join', '--library', joiner, '--json'], joinerClock, invite);
    await cli(['sync', '--library', joiner, '--peer', node.address], joinerClock);
    expect(await cli(['tag', 'list', '--library', joiner], CORRECT)).toContain('from the inviter');
  } finally {
    await node.stop();
  }
}

test('a device made by `tidemark init` while its clock was 3 days fast, its clock corrected since, can be joined and synced with over TLS', async () => {
  await pairAndSync(shiftedBy('+3d'), CORRECT);
}, 120_000);

test('a device whose clock is 3 days slow joins and syncs over TLS with a device made just now', async () => {
  await pairAndSync(CORRECT, shiftedBy('-3d'));
}, 120_000);
