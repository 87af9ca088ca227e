import { randomBytes, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, resourceTypeOf } from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import {
  DigestRequest,
  DigestResponse,
  HandshakeRequest,
  ResourceType,
  StateBatch,
  StateRequest,
  SyncServiceClient,
} from '@tidemark/proto';
import { RunningNode } from '../src';
import { createMemberFiles, rawClient, removeTempDirs, startTestNode, statusOf } from './helpers';

const ENTRIES = 12_000;

let node: RunningNode;
let client: SyncServiceClient;
let libraryId: string;

beforeAll(async () => {
  const [file] = await createMemberFiles(1, (library) =>
    writeSyntheticLibrary(library, {
      volumes: 2,
      locations: 4,
      entries: ENTRIES,
      entriesPerTransaction: 4_000,
    }),
  );
  node = await startTestNode(file);
  client = rawClient(node.address);
  libraryId = node.library.identity.libraryId;
});

afterAll(async () => {
  client?.close();
  await node?.close();
  removeTempDirs();
});

function handshake(request: Partial<HandshakeRequest>) {
  return new Promise((resolve, reject) =>
    client.handshake(HandshakeRequest.fromPartial(request), (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

function digest(request: Partial<DigestRequest>): Promise<DigestResponse> {
  return new Promise((resolve, reject) =>
    client.digest(DigestRequest.fromPartial(request), (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

/** Reads a non-follow stream to its end (or `limit` batches, then cancels). */
async function stream(request: Partial<StateRequest>, limit = Infinity): Promise<StateBatch[]> {
  const call = client.streamState(StateRequest.fromPartial(request));
  const batches: StateBatch[] = [];
  try {
    for await (const batch of call as AsyncIterable<StateBatch>) {
      batches.push(batch);
      if (batches.length >= limit) break;
    }
  } finally {
    call.on('error', () => undefined);
    call.cancel();
  }
  return batches;
}

const entryCursor = (epoch = '', seq = 0) => ({
  resourceType: resourceTypeOf('entry'),
  epoch,
  seq,
  commitId: '',
  held: [],
});
const sizeOf = (batch: StateBatch) => batch.records.length + batch.tombstones.length;

test('an unknown resource type is INVALID_ARGUMENT', async () => {
  const bad = 99 as ResourceType;
  const streamed = await stream({
    libraryId,
    cursors: [{ resourceType: bad, epoch: '', seq: 0, commitId: '', held: [] }],
  }).catch(statusOf);
  expect(streamed).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  expect(JSON.stringify(streamed)).toMatch(/unknown resource type 99/);
  const unspecified = await stream({
    libraryId,
    cursors: [{ resourceType: 0, epoch: '', seq: 0, commitId: '', held: [] }],
  }).catch(statusOf);
  expect(unspecified).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  await expect(digest({ libraryId, resourceTypes: [bad] }).catch(statusOf)).resolves.toMatchObject({
    code: grpc.status.INVALID_ARGUMENT,
  });
});

test('batch_size 0 is the default and a huge batch_size is clamped to the maximum', async () => {
  const byDefault = await stream({ libraryId, cursors: [entryCursor()], batchSize: 0 }, 1);
  expect(sizeOf(byDefault[0])).toBe(DEFAULT_BATCH_SIZE);
  const huge = await stream({ libraryId, cursors: [entryCursor()], batchSize: 4_294_967_295 });
  expect(huge.map(sizeOf)).toEqual([MAX_BATCH_SIZE, ENTRIES - MAX_BATCH_SIZE]);
  expect(huge[huge.length - 1]).toMatchObject({ remaining: 0, caughtUp: true });
});

test('a foreign library id is PERMISSION_DENIED on every method', async () => {
  const foreign = randomUUID();
  for (const result of [
    await handshake({ libraryId: foreign, deviceId: randomUUID() }).catch(statusOf),
    await stream({ libraryId: foreign, cursors: [entryCursor()] }).catch(statusOf),
    await digest({ libraryId: foreign }).catch(statusOf),
  ]) {
    expect(result).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    expect(JSON.stringify(result)).toContain(foreign);
  }
});

test('a cursor with a foreign epoch restarts from 0 and says so', async () => {
  const fromZero = await stream({ libraryId, cursors: [entryCursor()], batchSize: 500 }, 1);
  const foreign = await stream({ libraryId, cursors: [entryCursor(randomUUID(), 9_000)], batchSize: 500 }, 1);
  expect(foreign[0].reset).toBe(true);
  expect(fromZero[0].reset).toBe(false);
  expect(foreign[0].checkpoint).toEqual(fromZero[0].checkpoint);
  expect(foreign[0].records).toEqual(fromZero[0].records);
  expect(foreign[0].checkpoint?.epoch).toBe(node.library.identity.epoch);
});

test('empty cursors are INVALID_ARGUMENT', async () => {
  await expect(stream({ libraryId, cursors: [] }).catch(statusOf)).resolves.toMatchObject({
    code: grpc.status.INVALID_ARGUMENT,
  });
});

/** The decoder names no field, so the detail names both seqs a StateRequest carries. */
const SEQ_TOO_LARGE =
  'a cursor seq or a held prefix seq is 2^53 or more, which no node issues (cursor seqs stay below 2^53 = 9,007,199,254,740,992; the largest held prefix seq is 2^53 - 1, "everything")';

test('a seq of 2^53 or more is INVALID_ARGUMENT with the one-sentence explanation of docs/protocol.md', async () => {
  for (const seq of [2 ** 53, 2 ** 60]) {
    const streamed = await stream({
      libraryId,
      cursors: [entryCursor(node.library.identity.epoch, seq)],
    }).catch(statusOf);
    expect(streamed).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: SEQ_TOO_LARGE,
    });
    const head = {
      resourceType: resourceTypeOf('entry'),
      seq,
      rowCount: 0,
      tombstoneCount: 0,
      maxHlc: undefined,
    };
    await expect(handshake({ libraryId, heads: [head] }).catch(statusOf)).resolves.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details:
        'a 64-bit integer of the request is 2^53 or more, which no node holds (they stay below 2^53 = 9,007,199,254,740,992)',
    });
  }
  // One below is a valid seq, but past everything this node committed: a cursor from a history
  // it no longer has (a restore), so the type is served from 0 with reset.
  const largest = await stream({
    libraryId,
    cursors: [entryCursor(node.library.identity.epoch, Number.MAX_SAFE_INTEGER)],
  });
  expect(largest[0]).toMatchObject({ reset: true, checkpoint: { epoch: node.library.identity.epoch } });
  expect(largest[largest.length - 1].caughtUp).toBe(true);
});

// A held seq of 2^53 (an off-by-one on 2^53 - 1, "never send me my own rows") failed decoding and
// was answered as "a cursor seq is 2^53 or more", about a cursor whose seq was 0.
test('a held prefix seq of 2^53 or more gets a detail that names it, as does a cursor seq', async () => {
  const { deviceId, epoch } = node.library.identity;
  const cursor = (seq: number, heldSeq: number) => ({
    ...entryCursor('', seq),
    held: [{ origin: deviceId, epoch, seq: heldSeq }],
  });
  const tooLarge = { code: grpc.status.INVALID_ARGUMENT, details: SEQ_TOO_LARGE };
  await expect(stream({ libraryId, cursors: [cursor(0, 2 ** 53)] }).catch(statusOf)).resolves.toEqual(
    tooLarge,
  );
  await expect(stream({ libraryId, cursors: [cursor(2 ** 53, 1)] }).catch(statusOf)).resolves.toEqual(
    tooLarge,
  );
  // 2^53 - 1 is what a node sends for its own lineage: valid.
  const batches = await stream({ libraryId, cursors: [cursor(0, 2 ** 53 - 1)] });
  expect(batches[batches.length - 1].caughtUp).toBe(true);
});

test('an oversized malformed id is INVALID_ARGUMENT with a short message, not a call left unanswered', async () => {
  // The status detail names the bad value. Echoed whole, a 100,000-character library_id (or a
  // 30,000-character one of non-ASCII text, which grpc-message percent-encodes to 9 bytes a
  // character) made trailers past HTTP/2's 64 KiB header block limit: the node sent no status at
  // all, and the call waited for the client's deadline, or forever without one.
  const deadline = () => ({ deadline: Date.now() + 10_000 });
  const huge = ['x'.repeat(100_000), 'é'.repeat(30_000)];
  for (const bad of huge) {
    const answers = [
      await new Promise((resolve) =>
        client.handshake(
          HandshakeRequest.fromPartial({ libraryId: bad }),
          new grpc.Metadata(),
          deadline(),
          (error) => resolve(statusOf(error)),
        ),
      ),
      await new Promise((resolve) =>
        client.digest(
          DigestRequest.fromPartial({ libraryId: bad }),
          new grpc.Metadata(),
          deadline(),
          (error) => resolve(statusOf(error)),
        ),
      ),
      await new Promise((resolve) => {
        const call = client.streamState(
          StateRequest.fromPartial({ libraryId, deviceId: bad, cursors: [entryCursor()] }),
          deadline(),
        );
        call.on('data', () => undefined);
        call.on('error', (error) => resolve(statusOf(error)));
      }),
    ];
    for (const answer of answers) {
      expect(answer).toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        details: expect.stringMatching(/^(library_id|device_id) "(x|é)+.*must be/s),
      });
      expect((answer as { details: string }).details.length).toBeLessThan(2_000);
    }
  }
});

describe('garbage bytes', () => {
  const raw = () => new grpc.Client(node.address, grpc.credentials.createInsecure());
  const identity = (bytes: Buffer) => bytes;
  // Each can never decode: a field with wire type 7, a length running past the end, a varint
  // longer than 10 bytes.
  const undecodable = [
    Buffer.from([0x0f, 0x01, 0x02]),
    Buffer.from([0x0a, 0x7f, 0x61]),
    Buffer.concat([Buffer.from([0x18]), Buffer.alloc(11, 0xff)]),
  ];

  function unary(
    client: grpc.Client,
    method: string,
    payload: Buffer,
  ): Promise<{ code: grpc.status; details: string }> {
    return new Promise((resolve) =>
      client.makeUnaryRequest(
        `/tidemark.sync.v1.SyncService/${method}`,
        () => payload,
        identity,
        payload,
        (error) => resolve(error ? statusOf(error) : { code: grpc.status.OK, details: '' }),
      ),
    );
  }

  function serverStream(
    client: grpc.Client,
    payload: Buffer,
  ): Promise<{ code: grpc.status; details: string }> {
    return new Promise((resolve) => {
      const call = client.makeServerStreamRequest(
        '/tidemark.sync.v1.SyncService/StreamState',
        () => payload,
        identity,
        payload,
      );
      call.on('data', () => undefined);
      call.on('error', (error) => resolve(statusOf(error)));
      call.on('end', () => resolve({ code: grpc.status.OK, details: '' }));
    });
  }

  test('is rejected with a clear status, and the node keeps serving unchanged', async () => {
    const before = await digest({ libraryId });
    const client = raw();
    try {
      for (const payload of undecodable) {
        for (const status of [
          await unary(client, 'Handshake', payload),
          await unary(client, 'Digest', payload),
          await serverStream(client, payload),
        ]) {
          expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
          expect(status.details).toMatch(/request is not a valid tidemark\.sync\.v1\.\w+Request/);
        }
      }
      // Random bytes sometimes happen to decode; then they are a request for another library.
      const allowed = [grpc.status.INVALID_ARGUMENT, grpc.status.PERMISSION_DENIED];
      for (let i = 0; i < 30; i++) {
        const payload = randomBytes(1 + ((i * 37) % 300));
        expect(allowed).toContain((await unary(client, i % 2 ? 'Handshake' : 'Digest', payload)).code);
        expect(allowed).toContain((await serverStream(client, payload)).code);
      }
    } finally {
      client.close();
    }
    await expect(handshake({ libraryId })).resolves.toMatchObject({ epoch: node.library.identity.epoch });
    expect(await digest({ libraryId })).toEqual(before);
  });
});
