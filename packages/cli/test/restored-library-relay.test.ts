import { Library, readResourceHeads, readWatermarks, resourceTypeOf } from '@tidemark/engine';
import { heldPrefixes } from '@tidemark/engine/testing';
import * as fs from 'node:fs';
import { metricOf, scrapeMetrics } from '../src/bench/node-process';
import {
  freePort,
  initDevicesOfOneLibrary,
  NodeProcess,
  removeTempDirs,
  runCli,
  tempDir,
  waitFor,
} from './harness';
import { entryUuidsIn, rowCountAt, withLibraryAt } from './index-helpers';

afterAll(removeTempDirs);

/**
 * Three devices, A restored in place from a backup while B and C hold A's rows, B relaying A to
 * C with origin prefixes (issue 16): C's claims on A's lineage say it holds A's rows up to the
 * seq A had before the restore, and A's new writes reuse those seqs. Nothing A writes after the
 * restore may be skipped on their strength, and a reset may cost no more than the design says
 * (docs/architecture.md, "Restored libraries" and "Origin-aware serving").
 */

const count = rowCountAt;

const entryUuids = entryUuidsIn;

/** C's claim on the entries of `origin`'s lineages: the highest origin seq it says it holds. */
const claimOn = (dir: string, origin: string) =>
  withLibraryAt(dir, async (library) =>
    Math.max(
      0,
      ...(await heldPrefixes(library, 'entry')).filter((c) => c.origin === origin).map((c) => c.seq),
    ),
  );

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
 * Whether the device at `dir` has applied every entry row and tombstone `peerDir` holds: its cursor
 * on that peer's entries is at the peer's head (both read from their files).
 */
async function caughtUpOnEntriesOf(dir: string, peerDir: string): Promise<boolean> {
  const [peerId, peerHead] = await withLibraryAt(peerDir, async (library) => [
    library.identity.deviceId,
    Number(
      (await readResourceHeads(library)).find((head) => head.resourceType === resourceTypeOf('entry'))?.seq ??
        0,
    ),
  ]);
  const cursor = await withLibraryAt(dir, async (library) =>
    (await readWatermarks(library)).find(
      (mark) => mark.peerDeviceId === peerId && mark.resourceType === 'entry',
    ),
  );
  return cursor !== undefined && cursor.lastSeq >= peerHead;
}

/** A backup of A's library.db and its history mark, taken now. */
function backUp(dir: string): string {
  const backup = `${tempDir()}/library.db.backup`;
  fs.copyFileSync(Library.fileIn(dir), backup);
  fs.copyFileSync(`${Library.fileIn(dir)}.history`, `${backup}.history`);
  return backup;
}

/** The backup's bytes over library.db, same inode, WAL and SHM removed; the mark too with `withMark`. */
function restoreInPlace(dir: string, backup: string, withMark: boolean): void {
  const file = Library.fileIn(dir);
  const inode = fs.statSync(file).ino;
  for (const suffix of ['-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
  fs.copyFileSync(backup, file);
  if (withMark) fs.copyFileSync(`${backup}.history`, `${file}.history`);
  expect(fs.statSync(file).ino).toBe(inode);
}

/** A node with its metrics served, to read the entry rows it received from each peer. */
class MeteredNode {
  readonly process: NodeProcess;
  private constructor(
    dir: string,
    port: number,
    peers: readonly string[],
    private readonly metricsPort: number,
  ) {
    this.process = new NodeProcess(dir, port, peers, ['--metrics', `127.0.0.1:${metricsPort}`]);
  }

  static async start(dir: string, peers: readonly string[]): Promise<MeteredNode> {
    const node = new MeteredNode(dir, await freePort(), peers, await freePort());
    await node.process.start();
    return node;
  }

  get address(): string {
    return this.process.address;
  }

  /** Entry rows received from `peer` since this process started, skipped ones included. */
  async entriesFrom(peer: string): Promise<number> {
    return metricOf(await scrapeMetrics(this.metricsPort), 'tidemark_rows_received_total', {
      peer,
      resource_type: 'entry',
    });
  }

  /** How many backfill pulls of entries from `peer` caught up since this process started. */
  caughtUpOnEntriesFrom(peer: string): number {
    return this.process.output
      .split('\n')
      .filter((line) => line.includes('"msg":"caught up"'))
      .filter((line) => line.includes(`"peer":"${peer}"`) && line.includes('"resource_type":"entry"')).length;
  }
}

async function expectEveryEntryOf(from: string, on: string): Promise<void> {
  const [ofFrom, ofOn] = [await entryUuids(from), await entryUuids(on)];
  expect([...ofFrom].filter((uuid) => !ofOn.has(uuid))).toEqual([]);
}

async function expectEqualDigests(dir: string, peer: string): Promise<void> {
  const verify = await runCli(['verify', '--library', dir, '--peer', peer, '--insecure']);
  expect(verify.stdout + verify.stderr).not.toContain('DIFFERENT');
  expect(verify.code).toBe(0);
}

test("library.db alone restored while B follows A and relays to C: A's new lineage reaches C through B, each row once", async () => {
  const {
    dirs: [dirA, dirB, dirC],
    deviceId: deviceA,
  } = await initDevicesOfOneLibrary(3);
  await generate(dirA, 1000, 1);
  const backup = backUp(dirA);
  await generate(dirA, 1000, 2);

  const nodeA = new NodeProcess(dirA, await freePort());
  await nodeA.start();
  const nodeB = await MeteredNode.start(dirB, [nodeA.address]);
  const nodeC = await MeteredNode.start(dirC, [nodeB.address]);
  try {
    await waitFor(async () => (await count(dirC, 'entry')) === 2000, 90_000, 'C to hold A entries through B');
    // C holds A's rows by a claim it learned through B: the filter that must not skip A's new rows.
    await waitFor(async () => (await claimOn(dirC, deviceA)) >= 2000, 30_000, "C's claim on A's entries");
    const receivedB = await nodeB.entriesFrom(nodeA.address);
    const receivedC = await nodeC.entriesFrom(nodeB.address);

    await nodeA.stop();
    restoreInPlace(dirA, backup, false);
    await generate(dirA, 1500, 3);
    await nodeA.start();

    await waitFor(async () => (await count(dirB, 'entry')) === 3500, 90_000, "B to hold A's new entries");
    await waitFor(async () => (await count(dirC, 'entry')) === 3500, 90_000, "C to hold A's new entries");
    await expectEveryEntryOf(dirA, dirB);
    await expectEveryEntryOf(dirA, dirC);
    await expectEqualDigests(dirC, nodeB.address);

    // A's new epoch is a new lineage: B's reset pull from A leaves out the 1,000 rows of the old
    // lineage that B claims, and B relays the 1,500 new ones to C once. Nothing crosses twice.
    expect((await nodeB.entriesFrom(nodeA.address)) - receivedB).toBe(1500);
    expect((await nodeC.entriesFrom(nodeB.address)) - receivedC).toBe(1500);

    // A lost the 1,000 it wrote after the backup; B and C keep them in A's name. A takes them
    // back only by the explicit adoption, and then all three devices are equal.
    const adopted = await runCli([
      'repair',
      '--library',
      dirA,
      '--peer',
      nodeB.address,
      '--insecure',
      '--adopt-own',
    ]);
    expect(adopted.code).toBe(0);
    expect(await count(dirA, 'entry')).toBe(3500);
    await expectEqualDigests(dirA, nodeB.address);
  } finally {
    await Promise.all([nodeC.process.stop(), nodeB.process.stop(), nodeA.stop()]);
  }
}, 360_000);

test("library.db and its mark restored (same epoch): C, reset once by A, forgets its claim on A, and gets A's new rows through B after A is gone", async () => {
  const {
    dirs: [dirA, dirB, dirC],
    deviceId: deviceA,
  } = await initDevicesOfOneLibrary(3);
  await generate(dirA, 1000, 1);
  const backup = backUp(dirA);
  await generate(dirA, 1000, 2);

  const nodeA = new NodeProcess(dirA, await freePort());
  await nodeA.start();
  const nodeB = await MeteredNode.start(dirB, [nodeA.address]);
  // C follows A directly at first: only a device that hears of the restore from A can know.
  let nodeC = await MeteredNode.start(dirC, [nodeB.address, nodeA.address]);
  try {
    await waitFor(async () => (await count(dirC, 'entry')) === 2000, 90_000, 'C to hold A entries');
    await waitFor(async () => (await claimOn(dirC, deviceA)) >= 2000, 30_000, "C's claim on A's entries");
    const claimBefore = await claimOn(dirC, deviceA);

    // A comes back restored, with no new writes yet: every cursor on it is past its head. B
    // hears of it first and C after, so that C cannot learn B's claim of before the restore.
    await Promise.all([nodeA.stop(), nodeC.process.stop()]);
    restoreInPlace(dirA, backup, true);
    const caughtUpB = nodeB.caughtUpOnEntriesFrom(nodeA.address);
    const receivedB = await nodeB.entriesFrom(nodeA.address);
    await nodeA.start();
    await waitFor(
      async () => nodeB.caughtUpOnEntriesFrom(nodeA.address) > caughtUpB,
      90_000,
      "B to catch up again with the restored A's entries",
    );
    nodeC = await MeteredNode.start(dirC, [nodeB.address, nodeA.address]);
    await waitFor(
      async () => nodeC.caughtUpOnEntriesFrom(nodeA.address) > 0,
      90_000,
      "C to catch up again with the restored A's entries",
    );
    // Forgetting its claim on A rewound C's cursor on B (B may have left rows out on the strength
    // of that claim): that pull from B must end before this C stops, or the next C process pays
    // it and the once-through-B count below would include it.
    await waitFor(
      () => caughtUpOnEntriesOf(dirC, dirB),
      90_000,
      "C to take B's entries again after its rewind",
    );
    // The design's price of a restore that kept the epoch: the reset pull resends every row of
    // A's lineage (a claim on it may be of the lost history), the 1,000 the backup holds.
    expect((await nodeB.entriesFrom(nodeA.address)) - receivedB).toBe(1000);
    expect(await nodeC.entriesFrom(nodeA.address)).toBe(1000);
    expect(await claimOn(dirC, deviceA)).toBeLessThan(claimBefore);

    // A goes away and writes 1,500 entries; when it is back C cannot reach it, only B.
    await nodeA.stop();
    await nodeC.process.stop();
    await generate(dirA, 1500, 3);
    nodeC = await MeteredNode.start(dirC, [nodeB.address]);
    const receivedBAgain = await nodeB.entriesFrom(nodeA.address);
    await nodeA.start();

    await waitFor(async () => (await count(dirB, 'entry')) === 3500, 90_000, "B to hold A's new entries");
    await waitFor(
      async () => (await count(dirC, 'entry')) === 3500,
      90_000,
      "C to hold A's new entries, through B alone",
    );
    await expectEveryEntryOf(dirA, dirB);
    await expectEveryEntryOf(dirA, dirC);
    await expectEqualDigests(dirC, nodeB.address);
    // B resumes A where the restored history goes on, and relays each new row to C once.
    expect((await nodeB.entriesFrom(nodeA.address)) - receivedBAgain).toBe(1500);
    expect(await nodeC.entriesFrom(nodeB.address)).toBe(1500);
  } finally {
    await Promise.all([nodeC.process.stop(), nodeB.process.stop(), nodeA.stop()]);
  }
}, 360_000);
