import { BackfillGate } from './backfill-gate';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

// Time is driven by hand (jest's fake timers, which also move Date.now): nothing here measures it.
beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate'] }));
afterEach(() => jest.useRealTimers());

/** A gate whose pulls stall after 1,000 ms without progress, on the fake clock. */
const gateOf = () => new BackfillGate(1_000, () => Date.now());

/** Moves the fake clock and lets what it released run. */
async function advance(ms: number): Promise<void> {
  await jest.advanceTimersByTimeAsync(ms);
  await tick();
}

/** Tracks whether a promise settled. */
function settled<T>(promise: Promise<T>) {
  const state = { done: false, value: undefined as T | undefined };
  void promise.then((value) => {
    state.done = true;
    state.value = value;
  });
  return state;
}

test('one pull per type at a time; the waiter holding the most goes next; other types run alongside', async () => {
  const gate = gateOf();
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

test('a waiter waits as long as the running pull makes progress, however long that is', async () => {
  const gate = gateOf();
  const running = await gate.acquire('entry', 1);
  const waiting = settled(gate.acquire('entry', 1));
  // Ten minutes of a pull that applies a batch every 900 ms: the waiter never goes.
  for (let elapsed = 0; elapsed < 600_000; elapsed += 900) {
    await advance(900);
    gate.progress('entry');
  }
  expect(waiting.done).toBe(false);
  running();
  await tick();
  expect(waiting.done).toBe(true);
  waiting.value!();
});

test('a stalled pull (a peer that stopped sending) blocks the others for the stall time only', async () => {
  const gate = gateOf();
  const stalled = await gate.acquire('entry', 1);
  const small = settled(gate.acquire('entry', 5));
  const large = settled(gate.acquire('entry', 500));
  gate.progress('entry');
  await advance(999);
  expect([small.done, large.done]).toEqual([false, false]);
  // No progress for the stall time: the waiter holding the most goes, beside the stalled pull.
  await advance(1);
  expect([small.done, large.done]).toEqual([false, true]);
  // Its start counts as progress, and while it delivers the other keeps waiting on it.
  for (let i = 0; i < 5; i++) {
    await advance(900);
    gate.progress('entry');
  }
  expect(small.done).toBe(false);
  // Then it stalls too, and the last goes.
  await advance(1_000);
  expect(small.done).toBe(true);
  stalled();
  large.value!();
  small.value!();
});

test('a vanished peer, whose pull ends, hands over at once; an aborted waiter goes and ends', async () => {
  const gate = gateOf();
  const vanishing = await gate.acquire('entry', 1);
  const next = settled(gate.acquire('entry', 1));
  vanishing(); // the pull failed (keepalive, or the connection dropped) and released the type
  await tick();
  expect(next.done).toBe(true);
  const abort = new AbortController();
  const aborted = settled(gate.acquire('entry', 1, abort.signal));
  abort.abort();
  await tick();
  expect(aborted.done).toBe(true);
  aborted.value!();
  next.value!();
  expect(gate.busy('entry')).toBe(false);
});

test('a follow stream waits while a backfill of its type runs or waits, and hears when one starts', async () => {
  const gate = gateOf();
  const busy: string[] = [];
  const off = gate.onBusy('entry', () => busy.push('entry'));
  await gate.whenIdle('entry'); // nothing runs: at once
  const first = await gate.acquire('entry', 1);
  expect(busy).toEqual(['entry']);
  const idle = settled(gate.whenIdle('entry'));
  await gate.whenIdle('tag'); // another type does not wait
  const second = gate.acquire('entry', 1);
  first();
  await tick();
  // The next backfill of the type took over: still busy, and no new start announced.
  expect(idle.done).toBe(false);
  expect(busy).toEqual(['entry']);
  (await second)();
  await tick();
  expect(idle.done).toBe(true);
  off();
  (await gate.acquire('entry', 1))();
  expect(busy).toEqual(['entry']);
});

test('a follow stream waits while the backfill makes progress; once it stalls, a waiting pull goes first', async () => {
  const gate = gateOf();
  const stalled = await gate.acquire('entry', 1);
  const stream = settled(gate.whenIdle('entry'));
  for (let i = 0; i < 100; i++) {
    await advance(900);
    gate.progress('entry');
  }
  expect(stream.done).toBe(false);
  const pull = settled(gate.acquire('entry', 1));
  await advance(1_000);
  // The stall let the waiting pull go, not the stream: the stream waits on that pull in turn.
  expect([pull.done, stream.done]).toEqual([true, false]);
  await advance(900);
  gate.progress('entry');
  await advance(900);
  expect(stream.done).toBe(false);
  // Nothing waits to pull any more: the next stall lets the stream go.
  await advance(100);
  expect(stream.done).toBe(true);
  const abort = new AbortController();
  const aborted = settled(gate.whenIdle('entry', abort.signal));
  abort.abort();
  await tick();
  expect(aborted.done).toBe(true);
  stalled();
  pull.value!();
});
