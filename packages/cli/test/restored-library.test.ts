import { Library } from '@tidemark/engine';
import * as fs from 'node:fs';
import { entryUuidsIn, rowCountAt } from './index-helpers';
import { freePort, NodeProcess, removeTempDirs, runCli, runCliJson, tempDir, waitFor } from './harness';

afterAll(removeTempDirs);

/**
 * The most ordinary restore there is: a backup copied over the live library.db in place (same
 * inode, so the epoch stays; WAL and SHM removed), then new writes. Peers hold cursors into the
 * history the restore threw away; the new rows reuse those seqs.
 */

const count = rowCountAt;

const entryUuids = entryUuidsIn;

async function generate(dir: string, entries: number, seed: number): Promise<void> {
  const run = await runCli([
    'generate',
    '--library',
    dir,
    '--volumes',
    '1',
    '--locations',
    '2',
    '--entries',
    String(entries),
    '--seed',
    String(seed),
  ]);
  expect(run.code).toBe(0);
}

/**
 * The backup's bytes over library.db; with `withMark`, its history mark (library.db.history)
 * too, as a whole-directory snapshot would: then only the commit ids can tell.
 */
function restoreInPlace(dir: string, backup: string, withMark: boolean): void {
  const file = Library.fileIn(dir);
  const inode = fs.statSync(file).ino;
  for (const suffix of ['-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
  fs.copyFileSync(backup, file);
  if (withMark) fs.copyFileSync(`${backup}.history`, `${file}.history`);
  expect(fs.statSync(file).ino).toBe(inode);
}

async function twoDevices(): Promise<{ dirA: string; dirB: string; backup: string }> {
  const [dirA, dirB] = [tempDir(), tempDir()];
  const { libraryId } = await runCliJson<{ libraryId: string }>(['init', '--library', dirA]);
  await runCliJson(['init', '--library', dirB, '--library-id', libraryId]);
  await generate(dirA, 1000, 1);
  const backup = `${tempDir()}/library.db.backup`;
  fs.copyFileSync(Library.fileIn(dirA), backup);
  fs.copyFileSync(`${Library.fileIn(dirA)}.history`, `${backup}.history`);
  await generate(dirA, 1000, 2);
  return { dirA, dirB, backup };
}

/** Every entry A holds now is on B. */
async function expectBHoldsEveryEntryOfA(dirA: string, dirB: string): Promise<void> {
  const [ofA, ofB] = [await entryUuids(dirA), await entryUuids(dirB)];
  expect([...ofA].filter((uuid) => !ofB.has(uuid))).toEqual([]);
}

test.each([
  ['library.db alone', false],
  ['library.db and its history mark (a directory snapshot)', true],
])(
  'B syncing again after A was restored in place (%s) gets every row A wrote since, and verify names what A lost',
  async (_, withMark) => {
    const { dirA, dirB, backup } = await twoDevices();
    const nodeA = new NodeProcess(dirA, await freePort());
    await nodeA.start();
    try {
      expect((await runCli(['sync', '--library', dirB, '--peer', nodeA.address, '--insecure'])).code).toBe(0);
      expect(await count(dirB, 'entry')).toBe(2000);
      await nodeA.stop();

      restoreInPlace(dirA, backup, withMark);
      // More than the restore lost, so the new rows pass B's old cursors.
      await generate(dirA, 1500, 3);
      await nodeA.start();
      const sync = await runCli(['sync', '--library', dirB, '--peer', nodeA.address, '--insecure']);
      expect(sync.code).toBe(0);
      await expectBHoldsEveryEntryOfA(dirA, dirB);
      expect(await count(dirB, 'entry')).toBe(3500);

      // The 1,000 entries the restore lost are still on B: verify says so, not silence.
      const verify = await runCli([
        'verify',
        '--library',
        dirB,
        '--peer',
        nodeA.address,
        '--insecure',
        '--json',
      ]);
      expect(JSON.parse(verify.stdout).differing).toContain('entry');
    } finally {
      await nodeA.stop();
    }
  },
  180_000,
);

test('B following live through the restore gets the new rows; its node compares digests and doctor names the types', async () => {
  const { dirA, dirB, backup } = await twoDevices();
  const nodeA = new NodeProcess(dirA, await freePort());
  const nodeB = new NodeProcess(dirB, await freePort(), [nodeA.address], ['--anti-entropy-interval', '1']);
  await nodeA.start();
  await nodeB.start();
  try {
    await waitFor(async () => (await count(dirB, 'entry')) === 2000, 90_000, 'B to hold A entries');
    await nodeA.stop();
    restoreInPlace(dirA, backup, true);
    await generate(dirA, 1500, 3);
    await nodeA.start();
    await waitFor(async () => (await count(dirB, 'entry')) === 3500, 90_000, "B to hold A's new entries");
    await expectBHoldsEveryEntryOfA(dirA, dirB);

    type Doctor = { findings: { severity: string; check: string; message: string }[] };
    await waitFor(
      async () => {
        // Exit 1 while it finds a problem, so read its JSON rather than requiring 0.
        const doctor = JSON.parse((await runCli(['doctor', '--library', dirB, '--json'])).stdout) as Doctor;
        return doctor.findings.some((f) => f.check === 'digest' && f.message.includes(' entry differs'));
      },
      90_000,
      "B's doctor to name the entry type as different from A",
      500,
    );
    expect(nodeB.output).toMatch(/digests differ from the peer for [a-z, ]*entry/);
  } finally {
    await nodeB.stop();
    await nodeA.stop();
  }
}, 240_000);
