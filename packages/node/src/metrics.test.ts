import { NodeMetrics } from './metrics';

test("process metrics (and prom-client's 10 ms event-loop sampler) run only when metrics are served", async () => {
  const served = new NodeMetrics({ processMetrics: true });
  expect(await served.registry.getSingleMetric('nodejs_eventloop_lag_seconds')).toBeDefined();
  const unserved = new NodeMetrics({ processMetrics: false });
  expect(unserved.registry.getSingleMetric('nodejs_eventloop_lag_seconds')).toBeUndefined();
  expect(unserved.registry.getSingleMetric('tidemark_peer_connected')).toBeDefined();
  served.registry.clear();
});
