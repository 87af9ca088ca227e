import { Writable } from 'node:stream';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { MAX_BUFFERED_BATCHES, WriteBackpressure } from './write-backpressure';

/** A server call whose socket sends a message only when the test says so. */
function stalledCall(highWaterMark = 16) {
  const sends: (() => void)[] = [];
  const call = new Writable({
    objectMode: true,
    highWaterMark,
    write: (_message: unknown, _encoding, callback) => sends.push(() => callback()),
  });
  const fake = Object.assign(call, { cancelled: false });
  return { call: fake as unknown as ServerWritableStream<unknown, number>, raw: fake, sends };
}

const settled = async (promise: Promise<void>) => {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

test('ready() waits while the buffer is full and resumes as messages go out', async () => {
  const { call, sends } = stalledCall();
  const flow = new WriteBackpressure<number>(call);
  for (let i = 1; i < MAX_BUFFERED_BATCHES; i++) flow.write(i);
  expect(await settled(flow.ready())).toBe(true);
  flow.write(MAX_BUFFERED_BATCHES);
  const waiting = flow.ready();
  expect(await settled(waiting)).toBe(false);
  sends.shift()!();
  expect(await settled(waiting)).toBe(true);
});

test('ready() is released when the call is cancelled', async () => {
  const { call, raw } = stalledCall();
  const flow = new WriteBackpressure<number>(call);
  for (let i = 0; i < MAX_BUFFERED_BATCHES + 3; i++) flow.write(i);
  const waiting = flow.ready();
  expect(await settled(waiting)).toBe(false);
  raw.cancelled = true;
  raw.emit('cancelled');
  expect(await settled(waiting)).toBe(true);
  expect(await settled(flow.ready())).toBe(true);
});

test("a 'drain' emitted while the call's streams are between wake-up and re-check does not stall them", async () => {
  // The streams of one call (one per resource type) share the flow. Past the Writable's limit
  // write() returns false; the last message's callback wakes every waiter, and the 'drain' that
  // follows at once fires before their re-checks listen again. Seen in the Python client's live
  // follow test: the tag stream never read the second commit.
  const { call, sends } = stalledCall(4);
  const flow = new WriteBackpressure<number>(call);
  for (let i = 0; i < 5; i++) flow.write(i);
  const streams = [flow.ready(), flow.ready(), flow.ready(), flow.ready()];
  expect(await settled(Promise.race(streams))).toBe(false);
  while (sends.length > 0) sends.shift()!();
  for (const waiting of streams) expect(await settled(waiting)).toBe(true);
  expect(await settled(flow.ready())).toBe(true);
});
