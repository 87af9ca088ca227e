import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Library, readActiveMembers, removeMember, TidemarkError } from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import { ResourceType, StateBatch } from '@tidemark/proto';
import { DEVICE_KEY_FILE, GrpcSyncTransport, joinLibrary, trustedOf } from '../src';
import { digestsOf, nextEvent, removeTempDirs, startTestNode, statusOf, waitUntil } from './helpers';
import {
  addMember,
  addMemberToFile,
  createSecureDevice,
  handshakeWith,
  issueInvite,
  SecureDevice,
  tlsClient,
} from './tls-helpers';

afterAll(removeTempDirs);

const fill = (library: Library) =>
  writeSyntheticLibrary(library, { volumes: 2, locations: 4, entries: 300, entriesPerTransaction: 100 });

describe('device identity', () => {
  test('the key is 0600 and the device id is derived from the certificate', async () => {
    const device = await createSecureDevice();
    expect(fs.statSync(path.join(device.dir, DEVICE_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(device.deviceId).toBe(device.credentials.certificate.deviceId);
    expect(device.deviceId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('mutual TLS over 127.0.0.1', () => {
  let a: SecureDevice;
  beforeAll(async () => {
    a = await createSecureDevice(undefined, fill);
  });

  test('a device paired with an invite syncs; the invite cannot be used twice', async () => {
    const nodeA = await startTestNode(a.file, { insecure: false });
    try {
      const b = await createSecureDevice(a.libraryId);
      const invite = await issueInvite(nodeA.library, a, nodeA.address);
      const libraryB = await Library.open(b.file);
      try {
        const joined = await joinLibrary(libraryB, invite, b.credentials, 'device b');
        expect(joined.inviter.deviceId).toBe(a.deviceId);
        expect((await readActiveMembers(libraryB)).map((m) => m.deviceId)).toEqual([a.deviceId]);
      } finally {
        await libraryB.close();
      }
      expect((await readActiveMembers(nodeA.library)).map((m) => m.deviceId)).toEqual([b.deviceId]);

      const nodeB = await startTestNode(b.file, { insecure: false, peers: [nodeA.address] });
      try {
        // B also holds its own device row, which A never pulled: compare A's indexed data.
        const indexed = async (library: Library) => {
          const { volume, location, entry } = await digestsOf(library);
          return `${volume} ${location} ${entry}`;
        };
        await waitUntil(
          async () => (await indexed(nodeB.library)) === (await indexed(nodeA.library)),
          'B to hold what A holds, over TLS',
        );
      } finally {
        await nodeB.close();
      }

      // The same invite again, from a third device: refused, and it says why.
      const c = await createSecureDevice(a.libraryId);
      const libraryC = await Library.open(c.file);
      try {
        await expect(joinLibrary(libraryC, invite, c.credentials, 'c')).rejects.toThrow(
          /already used.*single-use/,
        );
      } finally {
        await libraryC.close();
      }
    } finally {
      await nodeA.close();
    }
  });

  test('an expired invite fails with a clear message', async () => {
    const nodeA = await startTestNode(a.file, { insecure: false });
    try {
      const invite = await issueInvite(nodeA.library, a, nodeA.address, 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const late = await createSecureDevice(a.libraryId);
      const library = await Library.open(late.file);
      try {
        const error = await joinLibrary(library, invite, late.credentials, 'late').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TidemarkError);
        expect((error as TidemarkError).message).toMatch(/invite expired at .*ask for a new one/);
        expect(await readActiveMembers(library)).toEqual([]);
      } finally {
        await library.close();
      }
    } finally {
      await nodeA.close();
    }
  });

  test('an unpaired certificate gets UNAUTHENTICATED; a member of another library gets PERMISSION_DENIED', async () => {
    const nodeA = await startTestNode(a.file, { insecure: false });
    try {
      const stranger = await createSecureDevice(a.libraryId);
      const client = tlsClient(nodeA.address, stranger, a);
      const unpaired = statusOf(await handshakeWith(client, a.libraryId).catch((e: unknown) => e));
      expect(unpaired.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(unpaired.details).toMatch(/not a member/);
      client.close();

      const other = await createSecureDevice();
      const otherClient = tlsClient(nodeA.address, other, a);
      const denied = statusOf(await handshakeWith(otherClient, other.libraryId).catch((e: unknown) => e));
      expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(denied.details).not.toContain(a.libraryId);
      otherClient.close();
    } finally {
      await nodeA.close();
    }
  });

  test('a client refuses a server whose certificate is not a member', async () => {
    const impostor = await createSecureDevice(a.libraryId);
    const member = await createSecureDevice(a.libraryId);
    await addMemberToFile(impostor.file, member);
    const node = await startTestNode(impostor.file, { insecure: false });
    try {
      const trusted = [
        {
          deviceId: a.deviceId,
          fingerprint: a.credentials.certificate.fingerprint,
          certificatePem: a.credentials.certificate.pem,
        },
      ];
      const transport = new GrpcSyncTransport(node.address, { tls: { device: member.credentials, trusted } });
      const error = await transport
        .handshake({
          libraryId: a.libraryId,
          deviceId: member.deviceId,
          epoch: '',
          protocolVersion: 1,
          heads: [],
          sentAtMs: 0,
        })
        .catch((e: unknown) => e);
      transport.close();
      expect(error).toMatchObject({ code: 'UNAUTHENTICATED' });
    } finally {
      await node.close();
    }
  });

  test('a removed member is cut off on its live stream and refused afterwards', async () => {
    const nodeA = await startTestNode(a.file, { insecure: false, membershipCheckMs: 100 });
    try {
      const b = await createSecureDevice(a.libraryId);
      await addMember(nodeA.library, b);
      await addMemberToFile(b.file, a);
      await waitUntil(async () => {
        const client = tlsClient(nodeA.address, b, a);
        const ok = await handshakeWith(client, a.libraryId, b.deviceId).then(
          () => true,
          () => false,
        );
        client.close();
        return ok;
      }, 'A to accept B');

      const client = tlsClient(nodeA.address, b, a);
      const stream = client.streamState({
        libraryId: a.libraryId,
        deviceId: b.deviceId,
        cursors: [
          { resourceType: ResourceType.RESOURCE_TYPE_TAG, epoch: '', seq: 0, commitId: '', held: [] },
        ],
        batchSize: 0,
        follow: true,
      });
      const batches: StateBatch[] = [];
      const ended = new Promise<unknown>((resolve) => {
        stream.on('data', (batch: StateBatch) => batches.push(batch));
        stream.on('error', resolve);
        stream.on('end', () => resolve(undefined));
      });
      await waitUntil(async () => batches.some((batch) => batch.caughtUp), 'the follow stream to catch up');
      await removeMember(nodeA.library, b.deviceId);
      const status = statusOf(await ended);
      expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(status.details).toMatch(/removed/);
      const again = statusOf(await handshakeWith(client, a.libraryId, b.deviceId).catch((e: unknown) => e));
      expect(again.code).toBe(grpc.status.UNAUTHENTICATED);
      // Told it was removed, for good: "pair the devices first" sent users to an invite that
      // every member must refuse.
      expect(again.details).toMatch(
        new RegExp(`device ${b.deviceId} was removed from library .*removal is final`),
      );
      expect(again.details).not.toMatch(/pair the devices first/);
      client.close();
    } finally {
      await nodeA.close();
    }
  });

  test("a node's session with a removed member ends (its batches are no longer applied)", async () => {
    const b = await createSecureDevice(a.libraryId);
    const nodeA = await startTestNode(a.file, { insecure: false, membershipCheckMs: 100 });
    await addMember(nodeA.library, b);
    await addMemberToFile(b.file, a);
    const nodeB = await startTestNode(b.file, {
      insecure: false,
      peers: [nodeA.address],
      membershipCheckMs: 100,
    });
    try {
      await nextEvent(
        nodeB.events$,
        (e): e is typeof e => e.kind === 'sync' && e.event.kind === 'backfilled',
        'backfill',
      );
      const disconnected = nextEvent(
        nodeB.events$,
        (e): e is Extract<typeof e, { kind: 'disconnected' }> => e.kind === 'disconnected',
        'B to be cut off',
      );
      await removeMember(nodeA.library, b.deviceId);
      expect((await disconnected).error.code).toBe('UNAUTHENTICATED');
    } finally {
      await nodeB.close();
      await nodeA.close();
    }
  });

  test('members convert to pinned trust anchors', async () => {
    const library = await Library.open(a.file);
    try {
      for (const member of await readActiveMembers(library)) {
        expect(trustedOf(member).fingerprint).toBe(member.fingerprint);
      }
    } finally {
      await library.close();
    }
  });
});
