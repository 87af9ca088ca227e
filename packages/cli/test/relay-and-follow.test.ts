import { Library, readRecord, readRecords, readTombstones } from '@tidemark/engine';
import { EntryKind } from '@tidemark/proto';
import { randomUUID } from 'node:crypto';
import { freePort, initDevicesOfOneLibrary, NodeProcess, removeTempDirs, runCli, waitFor } from './harness';
import { rowCountAt, withLibraryAt } from './index-helpers';

afterAll(removeTempDirs);

const count = rowCountAt;

/** Whether the library at `dir` holds `uuid` as an entry row, and as an entry tombstone. */
const entryState = (dir: string, uuid: string) =>
  withLibraryAt(dir, async (library) => {
    let tombstone = false;
    for await (const held of readTombstones(library, 'entry')) if (held.uuid === uuid) tombstone = true;
    return { row: (await readRecord(library, 'entry', uuid)) !== undefined, tombstone };
  });

test('C, connected only to B, receives A rows through B, and an A-owned delete reaches C', async () => {
  const {
    dirs: [dirA, dirB, dirC],
  } = await initDevicesOfOneLibrary(3);
  expect(
    (
      await runCli([
        'generate',
        '--library',
        dirA,
        '--volumes',
        '2',
        '--locations',
        '10',
        '--entries',
        '2000',
      ])
    ).code,
  ).toBe(0);

  const nodeA = new NodeProcess(dirA, await freePort());
  const nodeB = new NodeProcess(dirB, await freePort(), [nodeA.address]);
  const nodeC = new NodeProcess(dirC, await freePort(), [nodeB.address]);
  await nodeA.start();
  await nodeB.start();
  await nodeC.start();
  try {
    await waitFor(async () => (await count(dirC, 'entry')) === 2000, 60_000, 'C to hold A entries');

    // Another process (as an indexer would) deletes an entry on A while A's node runs.
    const deleted = await withLibraryAt(dirA, async (library) => {
      // A holds only its own entries: any one is A's to delete.
      const { value: entry } = await readRecords(library, 'entry').next();
      if (!entry) throw new Error('A holds no entries');
      await library.write((tx) => tx.delete('entry', entry.uuid));
      return entry.uuid;
    });
    await waitFor(
      async () => {
        const { row, tombstone } = await entryState(dirC, deleted);
        return tombstone && !row;
      },
      30_000,
      'the delete to reach C',
    );
    const verify = await runCli(['verify', '--library', dirC, '--peer', nodeB.address, '--insecure']);
    expect(verify.code).toBe(0);
  } finally {
    await Promise.all([nodeC.stop(), nodeB.stop(), nodeA.stop()]);
  }
});

test('rows written on A while B follows appear on B without a new sync (latency printed, not asserted)', async () => {
  const {
    dirs: [dirA, dirB],
    deviceId,
  } = await initDevicesOfOneLibrary(2);
  const nodeA = new NodeProcess(dirA, await freePort());
  const nodeB = new NodeProcess(dirB, await freePort(), [nodeA.address]);
  await nodeA.start();
  await nodeB.start();
  const latencies: number[] = [];
  try {
    await waitFor(async () => (await count(dirB, 'device')) === 2, 30_000, 'B to follow A');
    const libraryA = await Library.open(Library.fileIn(dirA));
    const libraryB = await Library.open(Library.fileIn(dirB));
    try {
      const locationUuid = randomUUID();
      for (let i = 0; i < 30; i++) {
        const uuid = randomUUID();
        const started = Date.now();
        await libraryA.write((tx) =>
          tx.put('entry', {
            uuid,
            deviceUuid: deviceId,
            locationUuid,
            parentUuid: '',
            relativePath: `followed-${i}.txt`,
            kind: EntryKind.ENTRY_KIND_FILE,
            sizeBytes: i,
            modifiedAtMs: started,
            contentUuid: '',
          }),
        );
        await waitFor(
          async () => (await readRecord(libraryB, 'entry', uuid)) !== undefined,
          60_000,
          `entry ${i} to reach B`,
          2,
        );
        latencies.push(Date.now() - started);
      }
    } finally {
      await libraryA.close();
      await libraryB.close();
    }
  } finally {
    await Promise.all([nodeB.stop(), nodeA.stop()]);
  }
  latencies.sort((x, y) => x - y);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  console.log(
    `follow latency across processes (writer in another process): p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`,
  );
  expect(latencies).toHaveLength(30);
});
