/**
 * A client takes from a peer only what it asked for: no more rows than the batch size it
 * requested (clamped to the server's advertised limits), and no more bytes than those rows can
 * take at their field bounds, never over 20 MiB (docs/security.md, "Limits").
 */
import * as grpc from '@grpc/grpc-js';
import { isTidemarkError, maxRecordWireBytes } from '@tidemark/engine';
import {
  HandshakeResponse,
  ResourceType,
  StateBatch,
  StateRequest,
  SyncServiceService,
} from '@tidemark/proto';
import { MAX_RECEIVED_BATCH_BYTES } from '../src/grpc/grpc-options';
import { GrpcSyncTransport } from '../src/peers/grpc-transport';

const EPOCH = '00000003-0000-4000-8000-000000000003';
const ORIGIN = '00000002-0000-4000-8000-000000000002';

function tombstones(count: number, uuidPadding = 0): StateBatch {
  return StateBatch.fromPartial({
    resourceType: ResourceType.RESOURCE_TYPE_TAG,
    tombstones: Array.from({ length: count }, (_, index) => ({
      resourceType: ResourceType.RESOURCE_TYPE_TAG,
      uuid: `00000001-0000-4000-8000-${String(index).padStart(12, '0')}${'f'.repeat(uuidPadding)}`,
      hlc: { physicalMs: 1_700_000_000_000, logical: 0 },
      origin: ORIGIN,
    })),
    checkpoint: { resourceType: ResourceType.RESOURCE_TYPE_TAG, epoch: EPOCH, seq: count },
    caughtUp: true,
  });
}

/** What the hostile peer sends for a request; set per test. */
let send: (request: StateRequest) => Buffer[] = () => [];
let server: grpc.Server;
let address: string;

beforeAll(async () => {
  server = new grpc.Server({ 'grpc.max_send_message_length': -1 });
  server.addService(
    {
      handshake: SyncServiceService.handshake,
      streamState: { ...SyncServiceService.streamState, responseSerialize: (bytes: Buffer) => bytes },
    } as unknown as grpc.ServiceDefinition,
    {
      handshake: (_call: unknown, callback: grpc.sendUnaryData<HandshakeResponse>) =>
        callback(
          null,
          HandshakeResponse.fromPartial({
            libraryId: '00000004-0000-4000-8000-000000000004',
            deviceId: ORIGIN,
            epoch: EPOCH,
            defaultBatchSize: 100,
            maxBatchSize: 500,
          }),
        ),
      streamState: (call: grpc.ServerWritableStream<StateRequest, Buffer>) => {
        for (const message of send(call.request)) call.write(message);
        call.end();
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  address = `127.0.0.1:${port}`;
});

afterAll(() => server.forceShutdown());

const encode = (batch: StateBatch) => Buffer.from(StateBatch.encode(batch).finish());

async function pull(batchSize: number): Promise<{ rows: number[]; error: unknown }> {
  const transport = new GrpcSyncTransport(address, { insecure: true });
  await transport.handshake({
    libraryId: '',
    deviceId: '',
    epoch: '',
    protocolVersion: 1,
    heads: [],
    sentAtMs: 0,
  });
  const rows: number[] = [];
  try {
    for await (const batch of transport.streamState({
      libraryId: '',
      deviceId: '',
      cursors: [{ resourceType: ResourceType.RESOURCE_TYPE_TAG, epoch: '', seq: 0, commitId: '', held: [] }],
      batchSize,
      follow: false,
    })) {
      rows.push(batch.tombstones.length + batch.records.length);
    }
    return { rows, error: undefined };
  } catch (error) {
    return { rows, error };
  } finally {
    transport.close();
  }
}

test('a batch with more rows than asked for is a protocol error; the batches before it arrive', async () => {
  send = () => [encode(tombstones(50)), encode(tombstones(51))];
  const { rows, error } = await pull(50);
  expect(rows).toEqual([50]);
  expect(isTidemarkError(error) && error.code).toBe('MALFORMED_BATCH');
  expect((error as Error).message).toMatch(
    /protocol error: .* 51 rows and tombstones; at most 50 were asked for/,
  );
});

test("asking for 0 means the server's advertised default; more than its advertised max is clamped to it", async () => {
  send = () => [encode(tombstones(101))];
  expect((await pull(0)).error).toMatchObject({
    message: expect.stringMatching(/at most 100 were asked for/),
  });
  send = () => [encode(tombstones(501))];
  expect((await pull(5_000)).error).toMatchObject({
    message: expect.stringMatching(/at most 500 were asked for/),
  });
});

test('a batch larger than its rows can take at their field bounds is refused before it is decoded', async () => {
  // Ten tombstones, each with a 300 KB "uuid": within the row count, far over the bytes.
  send = () => [encode(tombstones(10, 300_000))];
  const { error } = await pull(10);
  expect(error).toMatchObject({
    code: 'MALFORMED_BATCH',
    message: expect.stringMatching(/protocol error: .*-byte batch; 10 rows take at most/),
  });
  expect(10 * maxRecordWireBytes('tag')).toBeLessThan(100_000);
});

test('nothing over 20 MiB is read at all', async () => {
  send = () => [encode(tombstones(10, MAX_RECEIVED_BATCH_BYTES / 10))];
  const { error } = await pull(10);
  expect(error).toMatchObject({ message: expect.stringMatching(/RESOURCE_EXHAUSTED/) });
});
