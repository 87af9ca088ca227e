import * as grpc from '@grpc/grpc-js';
import { isTidemarkError, removeMember, TidemarkError } from '@tidemark/engine';
import {
  HandshakeRequest,
  HandshakeResponse,
  ResourceType,
  StateBatch,
  SyncServiceService,
} from '@tidemark/proto';
import { GrpcSyncTransport, PeerSessionEvent, RunningNode, TrustedCertificate } from '../src';
import { PeerPins } from '../src/tls/peer-pins';
import { nextEvent, removeTempDirs, startTestNode } from './helpers';
import { addMemberToFile, createSecureDevice, SecureDevice } from './tls-helpers';

afterAll(removeTempDirs);

/*
 * Client pinning: the certificate that vouches for an answer is the one of the connection that
 * carried it, and an address, once it answered as a device, answers as that device or not at
 * all. The attacker is a member (trusted certificate) that takes over another member's address.
 */

const trustedOf = (device: SecureDevice): TrustedCertificate => ({
  deviceId: device.deviceId,
  fingerprint: device.credentials.certificate.fingerprint,
  certificatePem: device.credentials.certificate.pem,
});

const handshakeRequest = (from: SecureDevice): HandshakeRequest => ({
  libraryId: from.libraryId,
  deviceId: from.deviceId,
  epoch: '',
  protocolVersion: 1,
  heads: [],
  sentAtMs: 0,
});

/**
 * A member's server that claims to be `claims`: presents `as`'s (trusted) certificate, answers
 * the handshake with `claims`'s device id, and serves one batch and a digest to anyone.
 */
async function posingServer(as: SecureDevice, claims: string, port: number): Promise<grpc.Server> {
  const server = new grpc.Server();
  server.addService(SyncServiceService, {
    handshake: (
      call: grpc.ServerUnaryCall<HandshakeRequest, HandshakeResponse>,
      callback: grpc.sendUnaryData<HandshakeResponse>,
    ) =>
      callback(null, {
        libraryId: call.request.libraryId,
        deviceId: claims,
        epoch: 'posing-epoch',
        protocolVersion: 1,
        heads: [],
        defaultBatchSize: 1000,
        maxBatchSize: 10000,
        deviceName: 'posing',
        serverTimeMs: 0,
      }),
    streamState: (call: grpc.ServerWritableStream<unknown, StateBatch>) => {
      call.write(
        StateBatch.fromPartial({ resourceType: ResourceType.RESOURCE_TYPE_TAG, records: [], caughtUp: true }),
      );
      call.end();
    },
    digest: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { digests: [] }),
  });
  const credentials = grpc.ServerCredentials.createSsl(
    null,
    [
      {
        cert_chain: Buffer.from(as.credentials.certificate.pem),
        private_key: Buffer.from(as.credentials.keyPem),
      },
    ],
    false,
  );
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, credentials, (error) => (error ? reject(error) : resolve())),
  );
  return server;
}

const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));

async function failureOf(promise: Promise<unknown>): Promise<TidemarkError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isTidemarkError(error)) throw new Error(`expected a TidemarkError, got ${String(error)}`);
  return error;
}

async function drain(stream: AsyncGenerator<StateBatch>): Promise<StateBatch[]> {
  const batches: StateBatch[] = [];
  for await (const batch of stream) batches.push(batch);
  return batches;
}

describe('client pinning over mutual TLS', () => {
  let a: SecureDevice;
  let b: SecureDevice;
  let c: SecureDevice;
  beforeAll(async () => {
    a = await createSecureDevice();
    b = await createSecureDevice(a.libraryId);
    c = await createSecureDevice(a.libraryId);
    // Every device trusts every other: C is an honest member until it takes over B's address.
    for (const [file, others] of [
      [a.file, [b, c]],
      [b.file, [a, c]],
      [c.file, [a, b]],
    ] as const) {
      for (const other of others) await addMemberToFile(file, other);
    }
  });

  test("a member at another member's address cannot pose as it, on a channel that saw the real one", async () => {
    const nodeB = await startTestNode(b.file, { insecure: false });
    const address = nodeB.address;
    const transport = new GrpcSyncTransport(address, {
      tls: { device: a.credentials, trusted: [b, c].map(trustedOf) },
    });
    let posing: grpc.Server | undefined;
    try {
      expect((await transport.handshake(handshakeRequest(a))).deviceId).toBe(b.deviceId);
      await nodeB.close();
      posing = await posingServer(c, b.deviceId, portOf(address));

      // The same channel reconnects to C, whose trusted certificate is not B's.
      const handshake = await failureOf(transport.handshake(handshakeRequest(a)));
      expect(handshake.code).toBe('UNAUTHENTICATED');
      expect(handshake.message).toContain(
        `says it is device ${b.deviceId}, but its certificate is device ${c.deviceId}`,
      );

      const digest = await failureOf(
        transport.digest({ libraryId: a.libraryId, resourceTypes: [], excludeOrigins: [] }),
      );
      expect(digest.code).toBe('UNAUTHENTICATED');
      expect(digest.message).toContain(`is device ${b.deviceId}, but the connection that answered`);

      const stream = await failureOf(
        drain(
          transport.streamState({
            libraryId: a.libraryId,
            deviceId: a.deviceId,
            cursors: [
              { resourceType: ResourceType.RESOURCE_TYPE_TAG, epoch: '', seq: 0, commitId: '', held: [] },
            ],
            batchSize: 0,
            follow: false,
          }),
        ),
      );
      expect(stream.code).toBe('UNAUTHENTICATED');
    } finally {
      transport.close();
      await nodeB.close();
      posing?.forceShutdown();
    }
  });

  test('an address stays pinned across transports: a fresh channel to a taken-over address is refused', async () => {
    const nodeB = await startTestNode(b.file, { insecure: false });
    const address = nodeB.address;
    const pins = new PeerPins();
    const tls = { device: a.credentials, trusted: [b, c].map(trustedOf), pins };
    const first = new GrpcSyncTransport(address, { tls });
    let posing: grpc.Server | undefined;
    try {
      expect((await first.handshake(handshakeRequest(a))).deviceId).toBe(b.deviceId);
      first.close();
      await nodeB.close();
      // C now answers honestly as itself: a member, but not the one this address is.
      posing = await posingServer(c, c.deviceId, portOf(address));
      const second = new GrpcSyncTransport(address, { tls });
      const error = await failureOf(second.handshake(handshakeRequest(a)));
      second.close();
      expect(error.code).toBe('UNAUTHENTICATED');
      expect(error.message).toMatch(
        /taken over the address\. If members swapped addresses .*restart this process/,
      );
      expect(pins.pinOf(address)).toBe(b.deviceId);

      // Without the shared pins the same honest answer is accepted: the pin is what refused it.
      const unpinned = new GrpcSyncTransport(address, {
        tls: { device: a.credentials, trusted: [b, c].map(trustedOf) },
      });
      expect((await unpinned.handshake(handshakeRequest(a))).deviceId).toBe(c.deviceId);
      unpinned.close();
    } finally {
      first.close();
      await nodeB.close();
      posing?.forceShutdown();
    }
  });

  test("a node's session refuses a member that took over its peer's address, until that peer is removed", async () => {
    const nodeB = await startTestNode(b.file, { insecure: false });
    const address = nodeB.address;
    let nodeA: RunningNode | undefined;
    let nodeC: RunningNode | undefined;
    try {
      nodeA = await startTestNode(a.file, { insecure: false, peers: [address], membershipCheckMs: 100 });
      const events$ = nodeA.events$;
      await nextEvent(
        events$,
        (e): e is PeerSessionEvent => e.kind === 'connected' && e.peerDeviceId === b.deviceId,
        'A to connect to B',
      );
      const refused = nextEvent(
        events$,
        (e): e is Extract<PeerSessionEvent, { kind: 'disconnected' }> =>
          e.kind === 'disconnected' && /taken over the address/.test(e.error.message),
        "A to refuse C at B's address",
      );
      const connectedToC = nextEvent(
        events$,
        (e): e is PeerSessionEvent => e.kind === 'connected' && e.peerDeviceId === c.deviceId,
        'A to connect to C once B is removed',
      );
      await nodeB.close();
      nodeC = await startTestNode(c.file, { insecure: false, listen: address });
      expect((await refused).error.code).toBe('UNAUTHENTICATED');

      // B leaves the library: its pin goes with it, and the address is whoever answers there.
      await removeMember(nodeA.library, b.deviceId);
      await connectedToC;
    } finally {
      await nodeA?.close();
      await nodeC?.close();
      await nodeB.close();
    }
  });
});

describe('PeerPins', () => {
  test('the first device pins an address; another is refused; forgetting the device frees it', () => {
    const pins = new PeerPins();
    pins.check('h:1', 'd1');
    pins.check('h:1', 'd1');
    expect(() => pins.check('h:1', 'd2')).toThrow(/h:1 is device d1, but .* device d2/);
    pins.check('h:2', 'd2');
    pins.forget(['d1']);
    expect(pins.pinOf('h:1')).toBeUndefined();
    expect(pins.pinOf('h:2')).toBe('d2');
    pins.check('h:1', 'd2');
    expect(pins.pinOf('h:1')).toBe('d2');
  });
});
