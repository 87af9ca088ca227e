/**
 * Hostile input: random and mutated protobuf messages to every RPC of a TLS node, from a paired
 * member (so they get past authentication and reach the handlers) and from a stranger. The node
 * never crashes, every reply is a gRPC status (or a well-formed answer), and nothing stored in
 * the library changes. String fields are also laced with terminal escapes and control
 * characters, or oversized (past the name and path bounds, past the 64 KiB request limit).
 */
import * as grpc from '@grpc/grpc-js';
import { Library, readMembers } from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import {
  DigestRequest,
  HandshakeRequest,
  PairRequest,
  ResourceHead,
  ResourceType,
  StateRequest,
} from '@tidemark/proto';
import * as fc from 'fast-check';
import { RunningNode } from '../src';
import { CLIENT_OPTIONS } from '../src/grpc/grpc-options';
import { pinnedChannel } from '../src/tls/client-credentials';
import { digestsOf, removeTempDirs, startTestNode } from './helpers';
import { addMemberToFile, createSecureDevice, handshakeWith, SecureDevice, tlsClient } from './tls-helpers';

afterAll(removeTempDirs);

const identity = (bytes: Buffer) => bytes;
const KNOWN_CODES = new Set(
  Object.values(grpc.status).filter((code): code is number => typeof code === 'number'),
);

let a: SecureDevice;
let member: SecureDevice;
let stranger: SecureDevice;
let node: RunningNode;

beforeAll(async () => {
  a = await createSecureDevice(undefined, (library: Library) =>
    writeSyntheticLibrary(library, { volumes: 1, locations: 2, entries: 50, entriesPerTransaction: 50 }),
  );
  member = await createSecureDevice(a.libraryId);
  stranger = await createSecureDevice(a.libraryId);
  await addMemberToFile(a.file, member);
  node = await startTestNode(a.file, { insecure: false });
});

afterAll(async () => {
  await node.close();
});

function rawClient(as: SecureDevice): grpc.Client {
  const { certificate } = a.credentials;
  const pinned = pinnedChannel(as.credentials, [
    { deviceId: certificate.deviceId, fingerprint: certificate.fingerprint, certificatePem: certificate.pem },
  ]);
  // Sends anything: the server's own request limit is part of what is tested.
  return new grpc.Client(node.address, pinned.credentials, {
    ...CLIENT_OPTIONS,
    ...pinned.options,
    'grpc.max_send_message_length': -1,
  });
}

/** Sends raw bytes to a unary method; resolves with the status code (OK for an answer). */
function unary(client: grpc.Client, path: string, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      identity,
      identity,
      body,
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + 10_000) },
      (error) => resolve(error ? error.code : grpc.status.OK),
    );
  });
}

/** Sends raw bytes to StreamState; takes a few messages, then cancels; resolves with the status. */
function stream(client: grpc.Client, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(
      '/tidemark.sync.v1.SyncService/StreamState',
      identity,
      identity,
      body,
    );
    let messages = 0;
    call.on('data', () => {
      if (++messages >= 3) call.cancel();
    });
    call.on('status', (status: grpc.StatusObject) => resolve(status.code));
    call.on('error', () => undefined);
    setTimeout(() => call.cancel(), 2_000);
  });
}

/** Terminal escapes, line breaks, bidi overrides, NUL: what a hostile name or path might carry. */
const ESCAPES = ['\u001b[2J', '\u001b]0;owned\u0007', '\r\n', '\u009b31m', '\u202e', '\u0000', '\u007f'];

/** Short strings, strings laced with escapes, and strings up to past the 64 KiB request limit. */
function hostileString(maxLength: number): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength }) },
    {
      weight: 2,
      arbitrary: fc
        .array(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(...ESCAPES)), { maxLength: 8 })
        .map((parts) => parts.join('')),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(257, 4_097, 60 * 1024, 70 * 1024)
        .chain((length) => fc.constantFrom('x', 'é', '\u001b').map((char) => char.repeat(length))),
    },
  );
}

/** Well-formed requests with random field values, half of them for the served library. */
function structured(path: string): fc.Arbitrary<Buffer> {
  const libraryId = fc.oneof(fc.constant(a.libraryId), hostileString(40), fc.uuid());
  const deviceId = fc.oneof(fc.constant(member.deviceId), fc.constant(''), fc.uuid(), hostileString(40));
  const type = fc.integer({ min: -2, max: 12 }) as fc.Arbitrary<ResourceType>;
  const seq = fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(2 ** 60));
  const encode =
    <T>(codec: { encode(value: T): { finish(): Uint8Array } }) =>
    (value: T) =>
      Buffer.from(codec.encode(value).finish());
  switch (path.split('/').pop()) {
    case 'Handshake':
      return fc
        .record({
          libraryId,
          deviceId,
          epoch: hostileString(40),
          protocolVersion: fc.integer({ min: -1, max: 5 }),
          heads: fc.constant<ResourceHead[]>([]),
          sentAtMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
        })
        .map(encode(HandshakeRequest));
    case 'StreamState':
      return fc
        .record({
          libraryId,
          deviceId,
          cursors: fc.array(
            fc.record({
              resourceType: type,
              epoch: fc.oneof(fc.constant(''), hostileString(40)),
              seq,
              held: fc.array(
                fc.record({
                  origin: fc.oneof(fc.uuid(), fc.string({ maxLength: 40 })),
                  epoch: fc.oneof(fc.uuid(), fc.constant('')),
                  seq,
                }),
                { maxLength: 3 },
              ),
              commitId: fc.oneof(fc.constant(''), fc.string({ maxLength: 40 })),
            }),
            { maxLength: 10 },
          ),
          batchSize: fc.oneof(fc.nat({ max: 20 }), fc.constant(4_294_967_295)),
          follow: fc.boolean(),
        })
        .map(encode(StateRequest));
    case 'Digest':
      return fc
        .record({
          libraryId,
          resourceTypes: fc.array(type, { maxLength: 10 }),
          excludeOrigins: fc.array(deviceId, { maxLength: 70 }),
        })
        .map(encode(DigestRequest));
    default:
      return fc
        .record({
          libraryId,
          inviteId: fc.oneof(fc.uuid(), hostileString(40)),
          secret: fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
          certificate: fc.oneof(
            fc.constant(stranger.credentials.certificate.der),
            fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
          ),
          deviceName: hostileString(300),
          proof: fc.uint8Array({ maxLength: 80 }).map((bytes) => Buffer.from(bytes)),
        })
        .map(encode(PairRequest));
  }
}

function templates(): { path: string; body: Buffer }[] {
  const libraryId = a.libraryId;
  return [
    {
      path: '/tidemark.sync.v1.SyncService/Handshake',
      body: Buffer.from(
        HandshakeRequest.encode({
          libraryId,
          deviceId: member.deviceId,
          epoch: '',
          protocolVersion: 1,
          heads: [],
          sentAtMs: 0,
        }).finish(),
      ),
    },
    {
      path: '/tidemark.sync.v1.SyncService/StreamState',
      body: Buffer.from(
        StateRequest.encode({
          libraryId,
          deviceId: member.deviceId,
          cursors: [1, 2, 3, 4, 5, 6, 7, 8].map((type) => ({
            resourceType: type as ResourceType,
            epoch: '',
            seq: 0,
            commitId: '',
            held: [],
          })),
          batchSize: 7,
          follow: false,
        }).finish(),
      ),
    },
    {
      path: '/tidemark.sync.v1.SyncService/Digest',
      body: Buffer.from(
        DigestRequest.encode({ libraryId, resourceTypes: [], excludeOrigins: [member.deviceId] }).finish(),
      ),
    },
    {
      path: '/tidemark.sync.v1.PairingService/Pair',
      body: Buffer.from(
        PairRequest.encode({
          libraryId,
          inviteId: '00000000-0000-4000-8000-000000000000',
          secret: Buffer.alloc(32, 7),
          certificate: stranger.credentials.certificate.der,
          deviceName: 'fuzz',
          proof: Buffer.alloc(70, 1),
        }).finish(),
      ),
    },
  ];
}

/** Random bytes, or a template with bytes overwritten, inserted or cut off. */
function message(base: Buffer): fc.Arbitrary<Buffer> {
  const mutated = fc
    .tuple(
      fc.array(fc.tuple(fc.nat({ max: Math.max(base.length - 1, 0) }), fc.integer({ min: 0, max: 255 })), {
        maxLength: 6,
      }),
      fc.nat({ max: base.length }),
      fc.uint8Array({ maxLength: 16 }),
    )
    .map(([edits, cut, tail]) => {
      const bytes = Buffer.from(base);
      for (const [at, value] of edits) bytes[at] = value;
      return Buffer.concat([bytes.subarray(0, cut), Buffer.from(tail)]);
    });
  return fc.oneof(
    fc.uint8Array({ maxLength: 600 }).map((array) => Buffer.from(array)),
    mutated,
  );
}

/** Pairing first: failed pairings count against the address, which is then rate limited. */
const ORDER = ['Pair', 'Handshake', 'StreamState', 'Digest'];

async function stored(): Promise<string> {
  const members = await readMembers(node.library);
  return JSON.stringify({ digests: await digestsOf(node.library), members });
}

test('random and mutated messages to every RPC: always a status, never a crash, nothing stored changes', async () => {
  const before = await stored();
  const clients = [rawClient(member), rawClient(stranger)];
  const codes = new Map<string, Set<number>>();
  const ordered = templates().sort(
    (x, y) => ORDER.indexOf(x.path.split('/').pop()!) - ORDER.indexOf(y.path.split('/').pop()!),
  );
  for (const { path, body } of ordered) {
    // The member first: the stranger's failures soon rate-limit the address for non-members.
    const who = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(1) });
    await fc.assert(
      fc.asyncProperty(fc.oneof(message(body), structured(path)), who, async (bytes, who) => {
        const code = path.endsWith('/StreamState')
          ? await stream(clients[who], bytes)
          : await unary(clients[who], path, bytes);
        expect(KNOWN_CODES.has(code)).toBe(true);
        // INTERNAL would mean the node mistook bad input for its own fault.
        expect(code).not.toBe(grpc.status.INTERNAL);
        expect(code).not.toBe(grpc.status.UNKNOWN);
        codes.set(path, (codes.get(path) ?? new Set()).add(code));
      }),
      { numRuns: 80 },
    );
  }
  for (const client of clients) client.close();
  expect(await stored()).toBe(before);
  // Still serving its members afterwards.
  const client = tlsClient(node.address, member, a);
  await expect(handshakeWith(client, a.libraryId, member.deviceId)).resolves.toMatchObject({
    deviceId: a.deviceId,
  });
  client.close();
  expect([...codes.keys()]).toHaveLength(4);
  if (process.env.TIDEMARK_TEST_LOG)
    console.log(
      [...codes].map(([path, seen]) => `${path}: ${[...seen].map((c) => grpc.status[c]).join(',')}`),
    );
}, 240_000);
