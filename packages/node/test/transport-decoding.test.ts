/**
 * The transport receives StreamState messages as bytes and decodes each only when the engine
 * asks for it (so read-ahead holds compact bytes, not object graphs). A message that does not
 * decode must still be the peer's fault: a MalformedBatchError, after the good batches before it.
 */
import * as grpc from '@grpc/grpc-js';
import { isTidemarkError, MalformedBatchError } from '@tidemark/engine';
import { ResourceType, StateBatch, StateRequest, SyncServiceService } from '@tidemark/proto';
import { GrpcSyncTransport } from '../src/peers/grpc-transport';

const GOOD: StateBatch = {
  resourceType: ResourceType.RESOURCE_TYPE_TAG,
  records: [
    {
      kind: {
        $case: 'tag',
        value: {
          uuid: '00000001-0000-4000-8000-000000000001',
          name: 'keep',
          color: '',
          hlc: { physicalMs: 1_700_000_000_000, logical: 0 },
          origin: '00000002-0000-4000-8000-000000000002',
        },
      },
    },
  ],
  tombstones: [],
  checkpoint: {
    resourceType: ResourceType.RESOURCE_TYPE_TAG,
    epoch: '00000003-0000-4000-8000-000000000003',
    seq: 1,
    hlc: undefined,
    covered: [],
    commitId: '',
  },
  remaining: 1,
  reset: false,
  caughtUp: false,
  recordOriginSeqs: [],
  recordOriginEpochs: [],
  originEpochs: [],
  heldSkipped: 0,
};

/** Field 1 (resource_type) as length-delimited with a length far past the end of the message. */
const GARBAGE = Buffer.from([0x12, 0xff, 0xff, 0xff, 0x0f, 0x01]);

let server: grpc.Server;
let address: string;

beforeAll(async () => {
  server = new grpc.Server();
  const method = SyncServiceService.streamState;
  // A misbehaving peer: the real path and request format, but raw response bytes.
  server.addService(
    {
      streamState: { ...method, responseSerialize: (bytes: Buffer) => bytes },
    } as unknown as grpc.ServiceDefinition,
    {
      streamState: (call: grpc.ServerWritableStream<StateRequest, Buffer>) => {
        call.write(Buffer.from(StateBatch.encode(GOOD).finish()));
        call.write(GARBAGE);
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

test('good batches decode; a message that does not decode is a MalformedBatchError naming the peer', async () => {
  const transport = new GrpcSyncTransport(address, { insecure: true });
  const received: StateBatch[] = [];
  let failure: unknown;
  try {
    for await (const batch of transport.streamState({
      libraryId: '',
      deviceId: '',
      cursors: [],
      batchSize: 0,
      follow: false,
    })) {
      received.push(batch);
    }
  } catch (error) {
    failure = error;
  } finally {
    transport.close();
  }
  expect(received).toEqual([GOOD]);
  expect(failure).toBeInstanceOf(MalformedBatchError);
  expect(isTidemarkError(failure) && failure.code).toBe('MALFORMED_BATCH');
  expect(String((failure as Error).message)).toContain(`${address} sent a StateBatch that does not decode`);
});
