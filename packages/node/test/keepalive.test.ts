import { once } from 'node:events';
import * as http2 from 'node:http2';
import { HandshakeRequest, HandshakeResponse } from '@tidemark/proto';
import { RunningNode } from '../src';
import { CLIENT_OPTIONS, SERVER_OPTIONS } from '../src/grpc/grpc-options';
import { createMemberFiles, removeTempDirs, startTestNode } from './helpers';

let node: RunningNode;

beforeAll(async () => {
  const [file] = await createMemberFiles(1);
  node = await startTestNode(file);
});

afterAll(async () => {
  await node?.close();
  removeTempDirs();
});

test('nodes ping every 20 s, also without calls, and give up after 10 s, as docs/protocol.md states', () => {
  const documented = {
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
  };
  expect(CLIENT_OPTIONS).toMatchObject(documented);
  expect(SERVER_OPTIONS).toMatchObject(documented);
});

function ping(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => {
    const sent = session.ping((error) => (error ? reject(error) : resolve()));
    if (!sent) reject(new Error('the ping could not be sent'));
  });
}

/** A gRPC unary call written by hand, so that it goes over `session` itself. */
async function handshakeOver(session: http2.ClientHttp2Session, libraryId: string) {
  const message = HandshakeRequest.encode(HandshakeRequest.fromPartial({ libraryId })).finish();
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  const call = session.request({
    ':method': 'POST',
    ':path': '/tidemark.sync.v1.SyncService/Handshake',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  const chunks: Buffer[] = [];
  call.on('data', (chunk: Buffer) => chunks.push(chunk));
  const trailers = once(call, 'trailers') as Promise<[http2.IncomingHttpHeaders]>;
  call.end(frame);
  const [status] = await trailers;
  const body = Buffer.concat(chunks);
  return { status: status['grpc-status'], response: HandshakeResponse.decode(body.subarray(5)) };
}

test('a node enforces no minimum ping interval: pings back to back, with no call open, are all answered, with no GOAWAY', async () => {
  const session = http2.connect(`http://${node.address}`);
  try {
    const goaways: number[] = [];
    session.on('goaway', (code: number) => goaways.push(code));
    await once(session, 'connect');
    for (let i = 0; i < 500; i++) await ping(session);
    const { libraryId, epoch } = node.library.identity;
    const { status, response } = await handshakeOver(session, libraryId);
    expect({ goaways, closed: session.closed, status, epoch: response.epoch }).toEqual({
      goaways: [],
      closed: false,
      status: '0',
      epoch,
    });
  } finally {
    session.close();
  }
});
