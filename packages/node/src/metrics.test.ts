import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Library } from '@tidemark/engine';
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
