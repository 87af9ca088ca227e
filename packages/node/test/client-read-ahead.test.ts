/**
 * A client reads a peer's stream ahead of the engine by little, and by nothing once batches are
 * large: a batch over 2 MiB is not decoded ahead, and grpc-js fetches no message on its own
 * (read-ahead.ts). Counted on the server: a message's write completes only once HTTP/2 flow
 * control let all of it go, which it does only as the client reads.
 */
import * as grpc from '@grpc/grpc-js';
import {
  EntryKind,
  HandshakeResponse,
  ResourceType,
  StateBatch,
  StateRequest,
  SyncServiceService,
} from '@tidemark/proto';
import { GrpcSyncTransport } from '../src/peers/grpc-transport';
import { waitUntil } from './helpers';

const EPOCH = '00000003-0000-4000-8000-000000000003';
const ORIGIN = '00000002-0000-4000-8000-000000000002';
const MESSAGES = 12;

/** 600 entries with 4,000-byte paths: ~2.4 MB, within what 1,000 rows may take. */
function largeBatch(seq: number): Buffer {
  const batch = StateBatch.fromPartial({
    resourceType: ResourceType.RESOURCE_TYPE_ENTRY,
    records: Array.from({ length: 600 }, (_, index) => ({
      kind: {
        $case: 'entry' as const,
        value: {
          uuid: `00000001-0000-4000-8000-${String(index).padStart(12, '0')}`,
          relativePath: 'p'.repeat(4_000),
          kind: EntryKind.ENTRY_KIND_FILE,
          origin: ORIGIN,
        },
      },
    })),
    checkpoint: { resourceType: ResourceType.RESOURCE_TYPE_ENTRY, epoch: EPOCH, seq },
  });
  return Buffer.from(StateBatch.encode(batch).finish());
}

let server: grpc.Server;
let address: string;
/** Messages whose write completed (sent in full), of the stream being served. */
let sent = 0;

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
            defaultBatchSize: 1_000,
            maxBatchSize: 1_000,
          }),
        ),
      streamState: (call: grpc.ServerWritableStream<StateRequest, Buffer>) => {
        sent = 0;
        call.on('error', () => undefined);
        for (let seq = 1; seq <= MESSAGES; seq++) call.write(largeBatch(seq), () => (sent += 1));
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

test('while the engine holds a large batch, the client reads nothing more', async () => {
  const transport = new GrpcSyncTransport(address, { insecure: true });
  try {
    const stream = transport.streamState({
      libraryId: '',
      deviceId: '',
      cursors: [
        { resourceType: ResourceType.RESOURCE_TYPE_ENTRY, epoch: '', seq: 0, commitId: '', held: [] },
      ],
      batchSize: 1_000,
      follow: false,
    });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.records).toHaveLength(600);
    // The engine holds it (as while applying it). Whatever the client reads ahead arrives quickly;
    // give it ample time to (not) do so.
    await waitUntil(async () => sent >= 1, 'the first message to be sent');
    const settle = Date.now() + 2_000;
    await waitUntil(async () => Date.now() > settle, 'two seconds of holding the batch');
    // Only the batch held: the next is neither decoded ahead nor fetched (a message's first
    // 64 KiB may wait in HTTP/2's window; its write completes only when the client reads it).
    expect(sent).toBe(1);
    // Taken on, the stream delivers the rest.
    let rest = 0;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) rest += 1;
    expect(rest).toBe(MESSAGES - 1);
  } finally {
    transport.close();
  }
});
