import { Library, readResourceHeads, resourceTypeOf } from '@tidemark/engine';
import { freePort, NodeProcess, removeTempDirs, runCli, runCliJson, tempDir, waitFor } from './harness';

interface StatusJson {
  deviceId: string;
  counts: { resourceType: string; owner: string; rows: number }[];
}

afterAll(removeTempDirs);

/** Rows of A's entries that B holds, read from B's file while its node may be running. */
async function entriesOnB(dir: string): Promise<number> {
  const library = await Library.open(Library.fileIn(dir));
  try {
    const heads = await readResourceHeads(library);
    return heads.find((head) => head.resourceType === resourceTypeOf('entry'))!.rowCount;
  } finally {
    await library.close();
  }
}

test('a node killed with SIGKILL at random moments of its backfill, and its peer killed once, converges with nothing lost or duplicated', async () => {
  const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100_000);
  let state = seed;
  const random = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  console.log(`crash-recovery seed ${seed} (replay with CRASH_SEED=${seed})`);

  const dirA = tempDir();
  const dirB = tempDir();
  const { libraryId } = await runCliJson<{ libraryId: string }>(['init', '--library', dirA]);
  await runCliJson(['init', '--library', dirB, '--library-id', libraryId]);
  const generated = await runCli([
    'generate',
    '--library',
    dirA,
    '--volumes',
    '5',
    '--locations',
    '100',
    '--entries',
    '30000',
  ]);
  expect(generated.code).toBe(0);

  const nodeA = new NodeProcess(dirA, await freePort());
  const nodeB = new NodeProcess(dirB, await freePort(), [nodeA.address], ['--batch-size', '2000']);
  await nodeA.start();
  await nodeB.start();
  try {
    const seenAtKill: number[] = [];
    // Kill points are random but inside the entry backfill: B is killed once it holds more than a
    // random, growing share of A's entries (watched from this process through B's WAL file).
    const thresholds = [random() * 0.3, 0.3 + random() * 0.3, 0.6 + random() * 0.3].map((q) =>
      Math.floor(q * 30_000),
    );
    for (let kill = 0; kill < 3; kill++) {
      await waitFor(
        async () => (await entriesOnB(dirB)) >= thresholds[kill],
        60_000,
        `B to pass ${thresholds[kill]} entries`,
        10,
      );
      await nodeB.kill();
      seenAtKill.push(await entriesOnB(dirB));
      if (kill === 1) {
        // The serving side crashes too, while B is down; B must resume against the restarted A.
        await nodeA.kill();
        await nodeA.start();
      }
      await nodeB.start();
    }
    console.log(
      `entries on B at each SIGKILL: ${seenAtKill.join(', ')} (thresholds ${thresholds.join(', ')})`,
    );
    expect(seenAtKill.some((n) => n > 0 && n < 30_000)).toBe(true);
    await waitFor(async () => (await entriesOnB(dirB)) === 30_000, 90_000, 'B to hold all 30,000 entries');

    const verify = await runCli(['verify', '--library', dirB, '--peer', nodeA.address, '--insecure']);
    expect(verify.stdout).toContain('verified');
    expect(verify.code).toBe(0);

    const statusA = await runCliJson<StatusJson>(['status', '--library', dirA]);
    const statusB = await runCliJson<StatusJson>(['status', '--library', dirB]);
    const ofA = (status: StatusJson) =>
      status.counts
        .filter((c) => c.owner === statusA.deviceId || c.owner === 'shared')
        .sort((x, y) => x.resourceType.localeCompare(y.resourceType));
    expect(ofA(statusB)).toEqual(ofA(statusA));
  } finally {
    await nodeB.stop();
    await nodeA.stop();
  }
});
