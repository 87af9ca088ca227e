import { randomUUID } from 'node:crypto';
import { digestsEqual, readDigest, readRecord, RESOURCE_NAMES, resourceTypeOf } from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import { DigestRequest } from '@tidemark/proto';
import { filter, firstValueFrom } from 'rxjs';
import { GrpcSyncTransport, PeerSessionEvent, RunningNode } from '../src';
import { createMemberFiles, digestsOf, nextEvent, removeTempDirs, startTestNode } from './helpers';

type SyncOf<K extends string> = Extract<PeerSessionEvent, { kind: 'sync' }> & { event: { kind: K } };

const isSync =
  <K extends string>(kind: K) =>
  (event: PeerSessionEvent): event is SyncOf<K> =>
    event.kind === 'sync' && event.event.kind === kind;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

describe('two nodes over gRPC', () => {
  let a: RunningNode;
  let b: RunningNode;

  beforeAll(async () => {
    const [fileA, fileB] = await createMemberFiles(2, (library) =>
      writeSyntheticLibrary(library, {
        volumes: 5,
        locations: 20,
        entries: 5_000,
        entriesPerTransaction: 1_000,
      }),
    );
    a = await startTestNode(fileA);
    b = await startTestNode(fileB, { peers: [a.address], batchSize: 700 });
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
    removeTempDirs();
  });

  test('B backfills A: handshake, StreamState and Digest round trip', async () => {
    const backfilled = await nextEvent(b.events$, isSync('backfilled'), 'backfill');
    expect(backfilled.event.failed).toEqual([]);
    expect(backfilled.peerDeviceId).toBe(a.library.identity.deviceId);

    // A holds one device row (its own); B holds its own and A's. Every other type is identical.
    const mine = await digestsOf(b.library);
    const theirs = await digestsOf(a.library);
    expect({ ...mine, device: '' }).toEqual({ ...theirs, device: '' });
    expect(mine.entry.startsWith('5000/0/')).toBe(true);

    // The Digest RPC answers what A's own database says.
    const transport = new GrpcSyncTransport(a.address, { insecure: true });
    try {
      const remote = await transport.digest(
        DigestRequest.fromPartial({ libraryId: a.library.identity.libraryId }),
      );
      expect(remote.epoch).toBe(a.library.identity.epoch);
      expect(remote.digests.map((d) => d.resourceType)).toEqual(RESOURCE_NAMES.map(resourceTypeOf));
      for (const [index, name] of RESOURCE_NAMES.entries()) {
        const local = await readDigest(b.library, name);
        if (name === 'device') expect(local.rowCount).toBe(remote.digests[index].rowCount + 1);
        else expect(digestsEqual(local, remote.digests[index])).toBe(true);
      }
    } finally {
      transport.close();
    }
  });

  test('B follows A: single-row commits arrive without a new sync', async () => {
    const latencies: number[] = [];
    for (let i = 0; i < 50; i++) {
      const uuid = randomUUID();
      const arrived = firstValueFrom(
        b.events$.pipe(
          filter(isSync('batch')),
          filter((e) => e.event.resourceType === 'tag' && e.event.phase === 'follow' && e.event.written > 0),
        ),
      );
      const started = performance.now();
      await a.library.write((tx) => tx.put('tag', { uuid, name: `tag ${i}`, color: '#336699' }));
      await arrived;
      latencies.push(performance.now() - started);
      expect(await readRecord(b.library, 'tag', uuid)).toMatchObject({ uuid });
    }
    latencies.sort((x, y) => x - y);
    console.log(
      `follow latency over ${latencies.length} single-row commits: ` +
        `p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, ` +
        `max ${latencies[latencies.length - 1].toFixed(1)} ms`,
    );
    const mine = await digestsOf(b.library);
    const theirs = await digestsOf(a.library);
    expect(mine.tag).toEqual(theirs.tag);
  });
});
