import { randomUUID } from 'node:crypto';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { Library, readRecord } from '@tidemark/engine';
import { HandshakeRequest } from '@tidemark/proto';
import { RunningNode } from '../src';
import { MAX_REQUEST_MESSAGE_BYTES, MAX_UNAUTHENTICATED_REQUEST_BYTES } from '../src/grpc/grpc-options';
import { removeTempDirs, startTestNode, statusOf, waitUntil } from './helpers';
import { addMemberToFile, createSecureDevice, SecureDevice, tlsClient } from './tls-helpers';

/**
 * Limits that apply before a caller is authenticated: request size, idle connections, and the
 * age of any connection. docs/security.md, "Limits".
 */

afterAll(removeTempDirs);

/** A gRPC message frame: flag byte, 4-byte length, message. */
function frame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** An HTTP/2 connection made by hand with a non-member's certificate: TLS succeeds, nothing more. */
function rawSession(address: string, device: SecureDevice): http2.ClientHttp2Session {
  const session = http2.connect(`https://${address}`, {
    key: device.credentials.keyPem,
    cert: device.credentials.certificate.pem,
    rejectUnauthorized: false,
    servername: 'tidemark',
  });
  session.on('error', () => undefined);
  return session;
}

/** Resolves with the time the session closed. */
const closedAt = (session: http2.ClientHttp2Session) =>
  new Promise<number>((resolve) => session.once('close', () => resolve(Date.now())));

function handshake(client: ReturnType<typeof tlsClient>, request: Partial<HandshakeRequest>) {
  return new Promise((resolve, reject) =>
    client.handshake(HandshakeRequest.fromPartial(request), (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  ).then(() => ({ code: grpc.status.OK, details: '' }), statusOf);
}

test('a non-member gets 64 KiB per request, a member up to 1 MiB; nothing larger is read at all', async () => {
  const a = await createSecureDevice();
  const member = await createSecureDevice(a.libraryId);
  await addMemberToFile(a.file, member);
  const node = await startTestNode(a.file, { insecure: false });
  try {
    const stranger = await createSecureDevice(a.libraryId);
    // These clients would send anything: the server's limits are what is tested.
    const options = { 'grpc.max_send_message_length': -1 };
    const strangerClient = tlsClient(node.address, stranger, a, options);
    const memberClient = tlsClient(node.address, member, a, options);
    // The epoch field pads the request; nothing reads it before the membership check.
    const padded = (bytes: number) => ({ libraryId: a.libraryId, epoch: 'x'.repeat(bytes) });
    expect((await handshake(strangerClient, padded(60 * 1024))).code).toBe(grpc.status.UNAUTHENTICATED);
    expect(await handshake(strangerClient, padded(MAX_UNAUTHENTICATED_REQUEST_BYTES + 1))).toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: expect.stringMatching(/not a member; the limit before authentication is 65536/),
    });
    expect((await handshake(memberClient, padded(MAX_UNAUTHENTICATED_REQUEST_BYTES + 1))).code).toBe(
      grpc.status.OK,
    );
    for (const client of [strangerClient, memberClient]) {
      expect(await handshake(client, padded(MAX_REQUEST_MESSAGE_BYTES + 1))).toMatchObject({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: expect.stringMatching(/larger than max/),
      });
      client.close();
    }
  } finally {
    await node.close();
  }
});

test('idle connections are closed on time, a held stream at its max age, and a member keeps syncing meanwhile', async () => {
  const a = await createSecureDevice();
  const b = await createSecureDevice(a.libraryId);
  await addMemberToFile(a.file, b);
  await addMemberToFile(b.file, a);
  const idleMs = 1_000;
  const maxAgeMs = 8_000;
  const maxAgeGraceMs = 1_000;
  const nodeA = await startTestNode(a.file, {
    insecure: false,
    connections: { idleMs, maxAgeMs, maxAgeGraceMs },
  });
  let nodeB: RunningNode | undefined;
  const stranger = await createSecureDevice(a.libraryId);
  const sessions: http2.ClientHttp2Session[] = [];
  try {
    nodeB = await startTestNode(b.file, { insecure: false, peers: [nodeA.address] });
    const written = async (library: Library, uuid: string) =>
      (await readRecord(library, 'tag', uuid)) !== undefined;
    const first = randomUUID();
    await nodeA.library.write((tx) => tx.put('tag', { uuid: first, name: 'before', color: '' }));
    await waitUntil(() => written(nodeB!.library, first), 'B to follow A');

    // Slow clients: ten connections that never call anything, one holding a health watch.
    const opened = Date.now();
    const idle = Array.from({ length: 10 }, () => rawSession(nodeA.address, stranger));
    sessions.push(...idle);
    const idleClosed = idle.map(closedAt);
    const watcher = rawSession(nodeA.address, stranger);
    sessions.push(watcher);
    const watcherClosed = closedAt(watcher);
    const watch = watcher.request({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Watch',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    watch.on('error', () => undefined);
    watch.on('data', () => undefined);
    watch.end(frame(new Uint8Array()));

    const deadline = (ms: number, what: string) =>
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`${what} still open after ${ms} ms`)), ms),
      );
    const idleTimes = await Promise.race([Promise.all(idleClosed), deadline(30_000, 'idle connections')]);
    // Closed for being idle, well before the age that would close them anyway.
    for (const at of idleTimes) {
      expect(at - opened).toBeGreaterThanOrEqual(idleMs * 0.9);
      expect(at - opened).toBeLessThan(maxAgeMs);
    }
    const watcherAt = await Promise.race([
      watcherClosed,
      deadline(60_000, 'the connection holding a stream'),
    ]);
    // Not idle (a call is open), so only its age ends it: at age (+ up to 10% jitter) + grace.
    expect(watcherAt - opened).toBeGreaterThanOrEqual(maxAgeMs);

    // B's own connection aged out too; it reconnected and still follows A.
    const second = randomUUID();
    await nodeA.library.write((tx) => tx.put('tag', { uuid: second, name: 'after', color: '' }));
    await waitUntil(
      () => written(nodeB!.library, second),
      'B to follow A after the slow clients were closed',
    );
  } finally {
    for (const session of sessions) session.destroy();
    await nodeB?.close();
    await nodeA.close();
  }
});
