import { PassThrough } from 'node:stream';
import { DecodeAhead } from './decode-ahead';

const ONE_AHEAD = { messages: 1, maxMessageBytes: 1024 };

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function source(messages: readonly string[], end = true): PassThrough {
  const stream = new PassThrough({ objectMode: true });
  for (const message of messages) stream.write(Buffer.from(message));
  if (end) stream.end();
  return stream;
}

test('holds at most limits.messages decoded messages ahead of the consumer, and delivers all in order', async () => {
  let decodedCount = 0;
  const ahead = new DecodeAhead(
    source(['a', 'b', 'c', 'd', 'e']),
    (bytes) => {
      decodedCount += 1;
      return bytes.toString();
    },
    { messages: 2, maxMessageBytes: 1024 },
  );
  await tick();
  await tick();
  expect(decodedCount).toBe(2); // five are buffered as bytes; only two were decoded
  const received: string[] = [];
  for (let message = await ahead.next(); message !== undefined; message = await ahead.next()) {
    received.push(message);
    await tick();
    expect(decodedCount - received.length).toBeLessThanOrEqual(2);
  }
  expect(received).toEqual(['a', 'b', 'c', 'd', 'e']);
});

test('a message that does not decode ends the stream after the ones before it', async () => {
  const ahead = new DecodeAhead(
    source(['ok-1', 'bad', 'ok-2']),
    (bytes) => {
      if (bytes.toString() === 'bad') throw new Error('does not decode');
      return bytes.toString();
    },
    { messages: 4, maxMessageBytes: 1024 },
  );
  expect(await ahead.next()).toBe('ok-1');
  await expect(ahead.next()).rejects.toThrow('does not decode');
});

test('waits for messages that arrive later, and for the end', async () => {
  const stream = source([], false);
  const ahead = new DecodeAhead(stream, (bytes) => bytes.toString(), ONE_AHEAD);
  const first = ahead.next();
  stream.write(Buffer.from('late'));
  expect(await first).toBe('late');
  const end = ahead.next();
  stream.end();
  expect(await end).toBeUndefined();
});

test('a stream error is thrown after the decoded messages', async () => {
  const stream = source(['x'], false);
  const ahead = new DecodeAhead(stream, (bytes) => bytes.toString(), ONE_AHEAD);
  await tick();
  stream.destroy(new Error('connection reset'));
  expect(await ahead.next()).toBe('x');
  await expect(ahead.next()).rejects.toThrow('connection reset');
});

test('after a large message nothing is decoded ahead, but a waiting consumer gets the next one', async () => {
  const big = 'b'.repeat(2048);
  let decodedCount = 0;
  const ahead = new DecodeAhead(
    source(['small', big, 'after-big-1', 'after-big-2']),
    (bytes) => {
      decodedCount += 1;
      return bytes.toString();
    },
    ONE_AHEAD,
  );
  expect(await ahead.next()).toBe('small');
  // 'small' was small: the next one (big) is decoded ahead.
  await tick();
  await tick();
  expect(decodedCount).toBe(2);
  expect(await ahead.next()).toBe(big);
  // The last message read was large: while the consumer holds it, nothing more is decoded.
  await tick();
  await tick();
  expect(decodedCount).toBe(2);
  expect(await ahead.next()).toBe('after-big-1');
  expect(decodedCount).toBe(3);
  expect(await ahead.next()).toBe('after-big-2');
  expect(await ahead.next()).toBeUndefined();
});
