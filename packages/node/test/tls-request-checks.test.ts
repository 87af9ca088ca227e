import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { removeTempDirs, startTestNode, statusOf } from './helpers';
import { addMemberToFile, createSecureDevice, handshakeWith, tlsClient } from './tls-helpers';

afterAll(removeTempDirs);

test('in TLS mode the library is checked first, and a device id must be the certificate one (docs/protocol.md, Handshake)', async () => {
  const server = await createSecureDevice();
  const member = await createSecureDevice(server.libraryId);
  await addMemberToFile(server.file, member);
  const node = await startTestNode(server.file, { insecure: false });
  const client = tlsClient(node.address, member, server);
  try {
    const malformed = statusOf(await handshakeWith(client, 'NOT-A-UUID').catch((e: unknown) => e));
    expect(malformed.code).toBe(grpc.status.PERMISSION_DENIED);
    const claimed = statusOf(
      await handshakeWith(client, server.libraryId, randomUUID()).catch((e: unknown) => e),
    );
    expect(claimed.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(claimed.details).toMatch(/claims device/);
    await expect(handshakeWith(client, server.libraryId, member.deviceId)).resolves.toMatchObject({
      deviceId: server.deviceId,
    });
  } finally {
    client.close();
    await node.close();
  }
});
