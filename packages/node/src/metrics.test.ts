import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Library } from '@tidemark/engine';
import { HandshakeResponse } from '@tidemark/proto';
import { NodeMetrics } from './metrics';

test("process metrics (and prom-client's 10 ms event-loop sampler) run only when metrics are served", async () => {
  const served = new NodeMetrics({ processMetrics: true });
  expect(await served.registry.getSingleMetric('nodejs_eventloop_lag_seconds')).toBeDefined();
  const unserved = new NodeMetrics({ processMetrics: false });
  expect(unserved.registry.getSingleMetric('nodejs_eventloop_lag_seconds')).toBeUndefined();
  expect(unserved.registry.getSingleMetric('tidemark_peer_connected')).toBeDefined();
  served.registry.clear();
});

test("the restored-history check's operations are on the page: every write transaction's commit row, by work", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-metrics-'));
  const metrics = new NodeMetrics({ processMetrics: false });
  const recorded = async () => {
    const page = await metrics.registry.getSingleMetricAsString('tidemark_commit_id_operations_total');
    return Number(/work="record"} (\d+)/.exec(page)?.[1]);
  };
  try {
    const before = await recorded();
    const library = await Library.create(Library.fileIn(dir), { deviceName: 'metrics' });
    await library.write((tx) => tx.put('tag', { uuid: randomUUID(), name: 'a tag', color: '' }));
    await library.close();
    // The device row at create, then the tag.
    expect((await recorded()) - before).toBe(2);
    const seconds = await metrics.registry.getSingleMetricAsString('tidemark_commit_id_seconds_total');
    expect(seconds).toMatch(/work="record"} [0-9.e-]+/);
    expect(seconds).toContain('work="checkpoint"');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('rows received and applied are counted per origin beside per peer, labelled with the address the peer was dialed at', async () => {
  const metrics = new NodeMetrics({ processMetrics: false });
  const [a, b] = [randomUUID(), randomUUID()];
  metrics.observe({
    kind: 'connected',
    peer: '127.0.0.1:1',
    peerDeviceId: b,
    event: {
      kind: 'connected',
      peerDeviceId: b,
      peerEpoch: randomUUID(),
      handshake: HandshakeResponse.fromPartial({ deviceId: b }),
      maxDriftMs: 60_000,
    },
  });
  const batch = (byOrigin: Map<string, { received: number; written: number }>) =>
    metrics.applied({
      peerDeviceId: b,
      resourceType: 'entry',
      received: [...byOrigin.values()].reduce((sum, counts) => sum + counts.received, 0),
      written: [...byOrigin.values()].reduce((sum, counts) => sum + counts.written, 0),
      skipped: 0,
      watermarkSeq: 1,
      beyondDrift: 0,
      maxAheadMs: 0,
      skippedAfterRemoval: 0,
      ownRowsSkipped: 0,
      heldSkipped: 0,
      prefixesRaised: 0,
      byOrigin,
    });
  batch(
    new Map([
      [a, { received: 5, written: 0 }],
      [b, { received: 3, written: 3 }],
    ]),
  );
  batch(new Map([[a, { received: 2, written: 1 }]]));
  const page = await metrics.registry.metrics();
  const series = (name: string, origin: string) =>
    Number(
      new RegExp(`${name}\\{peer="127.0.0.1:1",resource_type="entry",origin="${origin}"\\} (\\d+)`).exec(
        page,
      )?.[1],
    );
  expect(series('tidemark_rows_received_by_origin_total', a)).toBe(7);
  expect(series('tidemark_rows_applied_by_origin_total', a)).toBe(1);
  expect(series('tidemark_rows_received_by_origin_total', b)).toBe(3);
  expect(series('tidemark_rows_applied_by_origin_total', b)).toBe(3);
});
