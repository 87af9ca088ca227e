import { randomUUID } from 'node:crypto';
import { Library } from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import { PeerSessionEvent, RunningNode } from '../src';
import { createMemberFiles, nextEvent, removeTempDirs, startTestNode } from './helpers';

const METRIC_NAMES = [
  'tidemark_watermark_seq',
  'tidemark_lag_rows',
  'tidemark_lag_seconds',
  'tidemark_rows_applied_total',
  'tidemark_rows_received_total',
  'tidemark_rows_skipped_held_total',
  'tidemark_batches_total',
  'tidemark_rejected_batches_total',
  'tidemark_reconnects_total',
  'tidemark_hlc_beyond_drift_total',
  'tidemark_peer_clock_offset_seconds',
];

/** The value of one sample line, e.g. sample(text, 'tidemark_batches_total', { resource_type: 'entry' }). */
function sample(text: string, name: string, labels: { [label: string]: string }): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return undefined;
}

let a: RunningNode;
let b: RunningNode;

afterAll(async () => {
  await b?.close();
  await a?.close();
  removeTempDirs();
});

test('/metrics exposes per-peer, per-type sync metrics, including rows stamped beyond the max drift and the peer clock offset', async () => {
  const [fileA, fileB] = await createMemberFiles(2, (library) =>
    writeSyntheticLibrary(library, { volumes: 2, locations: 3, entries: 300 }),
  );
  // A tag stamped by a clock one hour ahead: B (max drift 1 minute) applies it like any other
  // row, counts it, and stalls nothing (docs/architecture.md, "Clocks").
  const skewed = await Library.open(fileA, { clock: { now: () => Date.now() + 3_600_000 } });
  await skewed.write((tx) => tx.put('tag', { uuid: randomUUID(), name: 'from the future', color: '' }));
  await skewed.close();

  a = await startTestNode(fileA, { metrics: '127.0.0.1:0' });
  b = await startTestNode(fileB, {
    peers: [a.address],
    metrics: '127.0.0.1:0',
    maxDriftMs: 60_000,
    reconnect: { initialMs: 50, maxMs: 200 },
  });
  expect(b.metricsAddress).toMatch(/^127\.0\.0\.1:\d+$/);
  const backfilled = await nextEvent(
    b.events$,
    (event): event is PeerSessionEvent => event.kind === 'sync' && event.event.kind === 'backfilled',
    'backfill',
  );
  expect(
    backfilled.kind === 'sync' && backfilled.event.kind === 'backfilled' && backfilled.event.failed,
  ).toEqual([]);

  const response = await fetch(`http://${b.metricsAddress}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await response.text();
  for (const name of METRIC_NAMES) expect(text).toContain(`# TYPE ${name} `);
  expect(text).toContain('process_cpu_user_seconds_total');

  const peer = a.address;
  const entry = { peer, resource_type: 'entry' };
  expect(sample(text, 'tidemark_rows_applied_total', entry)).toBe(300);
  expect(sample(text, 'tidemark_rows_received_total', entry)).toBe(300);
  // A holds nothing B wrote, so A left nothing out (the filter itself: engine origin-filter tests).
  expect(sample(text, 'tidemark_rows_skipped_held_total', entry)).toBe(0);
  expect(sample(text, 'tidemark_batches_total', entry)).toBeGreaterThanOrEqual(1);
  expect(sample(text, 'tidemark_watermark_seq', entry)).toBeGreaterThan(0);
  expect(sample(text, 'tidemark_lag_rows', entry)).toBe(0);
  expect(sample(text, 'tidemark_lag_seconds', entry)).toBe(0);
  const tag = { peer, resource_type: 'tag' };
  expect(sample(text, 'tidemark_rejected_batches_total', tag)).toBeUndefined();
  expect(sample(text, 'tidemark_hlc_beyond_drift_total', tag)).toBe(1);
  expect(sample(text, 'tidemark_hlc_beyond_drift_total', entry)).toBe(0);
  expect(sample(text, 'tidemark_rows_applied_total', tag)).toBe(1);
  // Both nodes run on this machine's clock: the estimate is within the round trip.
  expect(Math.abs(sample(text, 'tidemark_peer_clock_offset_seconds', { peer }) ?? NaN)).toBeLessThan(1);

  // The serving side counts what it handed to its callers' streams: B's backfill, every row once.
  const served = await (await fetch(`http://${a.metricsAddress}/metrics`)).text();
  expect(sample(served, 'tidemark_rows_served_total', { resource_type: 'entry' })).toBe(300);
  expect(sample(served, 'tidemark_rows_served_total', { resource_type: 'volume' })).toBe(2);

  // Losing the peer is counted as a reconnect.
  await a.close();
  await nextEvent(
    b.events$,
    (event): event is PeerSessionEvent => event.kind === 'reconnect_scheduled',
    'a reconnect',
  );
  const after = await (await fetch(`http://${b.metricsAddress}/metrics`)).text();
  expect(sample(after, 'tidemark_reconnects_total', { peer })).toBeGreaterThanOrEqual(1);
  expect(sample(after, 'tidemark_peer_connected', { peer })).toBe(0);

  expect((await fetch(`http://${b.metricsAddress}/`)).status).toBe(404);
});
