import { BackfillGate } from './backfill-gate';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('one pull per type at a time; the waiter holding the most goes next; other types run alongside', async () => {
  const gate = new BackfillGate(60_000);
  const order: string[] = [];
  const first = await gate.acquire('entry', 10);
  const small = gate.acquire('entry', 5).then((release) => (order.push('small'), release));
  const large = gate.acquire('entry', 500).then((release) => (order.push('large'), release));
  const otherType = await gate.acquire('tag', 1); // not held up by entry
  await tick();
  expect(order).toEqual([]);
  first();
  (await large)();
  (await small)();
  expect(order).toEqual(['large', 'small']);
  otherType();
});

test('a waiter goes anyway after the longest wait, or when its pull is aborted', async () => {
  const gate = new BackfillGate(50);
  const held = await gate.acquire('entry', 1);
  const started = Date.now();
  const late = await gate.acquire('entry', 1);
  expect(Date.now() - started).toBeGreaterThanOrEqual(40);
  const abort = new AbortController();
  const waiting = gate.acquire('entry', 1, abort.signal);
  abort.abort();
  (await waiting)();
  late();
  held();
});

test('a follow stream waits while a backfill of its type runs or waits, and hears when one starts', async () => {
  const gate = new BackfillGate(60_000);
  const busy: string[] = [];
  const off = gate.onBusy('entry', () => busy.push('entry'));
  await gate.whenIdle('entry'); // nothing runs: at once
  const first = await gate.acquire('entry', 1);
  expect(busy).toEqual(['entry']);
  let idle = false;
  const waiting = gate.whenIdle('entry').then(() => (idle = true));
  await gate.whenIdle('tag'); // another type does not wait
  const second = gate.acquire('entry', 1);
  first();
  await tick();
  // The next backfill of the type took over: still busy, and no new start announced.
  expect(idle).toBe(false);
  expect(busy).toEqual(['entry']);
  (await second)();
  await waiting;
  expect(idle).toBe(true);
  off();
  (await gate.acquire('entry', 1))();
  expect(busy).toEqual(['entry']);
});

test('a follow stream waits at most the longest wait, and not once aborted', async () => {
  const gate = new BackfillGate(50);
  const held = await gate.acquire('entry', 1);
  const started = Date.now();
  await gate.whenIdle('entry');
  expect(Date.now() - started).toBeGreaterThanOrEqual(40);
  const abort = new AbortController();
  const waiting = gate.whenIdle('entry', abort.signal);
  abort.abort();
  await waiting;
  held();
});
