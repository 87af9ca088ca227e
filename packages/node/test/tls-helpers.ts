import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { addMembers, createInvite, Library } from '@tidemark/engine';
import { SyncServiceClient } from '@tidemark/proto';
import { randomBytes, randomUUID } from 'node:crypto';
import { createDeviceCredentials, DeviceCredentials, encodeInvite, Invite } from '../src';
import { CLIENT_OPTIONS } from '../src/grpc/grpc-options';
import { pinnedChannel } from '../src/tls/client-credentials';
import { tempDir } from './helpers';

/** A device made the way `tidemark init` makes one: key, certificate, derived device id. */
export interface SecureDevice {
  readonly dir: string;
  readonly file: string;
  readonly credentials: DeviceCredentials;
  readonly libraryId: string;
  readonly deviceId: string;
}

export async function createSecureDevice(
  libraryId?: string,
  fill?: (library: Library) => Promise<void>,
): Promise<SecureDevice> {
  const dir = tempDir();
  const credentials = createDeviceCredentials(dir);
  const file = Library.fileIn(dir);
  const library = await Library.create(file, {
    libraryId,
    deviceId: credentials.certificate.deviceId,
    deviceName: path.basename(dir),
  });
  if (fill) await fill(library);
  const identity = library.identity;
  await library.close();
  return { dir, file, credentials, libraryId: identity.libraryId, deviceId: identity.deviceId };
}

/** Records `other` as a member in `library` (what a completed pairing leaves behind). */
export async function addMember(library: Library, other: SecureDevice): Promise<void> {
  const { certificate } = other.credentials;
  await addMembers(library, [
    {
      deviceId: certificate.deviceId,
      fingerprint: certificate.fingerprint,
      certificatePem: certificate.pem,
      name: '',
      addedBy: 'test',
    },
  ]);
}

export async function addMemberToFile(file: string, other: SecureDevice): Promise<void> {
  const library = await Library.open(file);
  try {
    await addMember(library, other);
  } finally {
    await library.close();
  }
}

/** Issues an invite on the inviter's open library, as `tidemark invite` does. */
export async function issueInvite(
  library: Library,
  inviter: SecureDevice,
  address: string,
  ttlMs = 60_000,
): Promise<Invite> {
  const invite: Invite = {
    libraryId: library.identity.libraryId,
    inviteId: randomUUID(),
    address,
    fingerprint: inviter.credentials.certificate.fingerprint,
    secret: randomBytes(32),
    expiresAtMs: Date.now() + ttlMs,
  };
  await createInvite(library, invite);
  // Round trip through the printed form, as a person would copy it.
  expect(encodeInvite(invite)).toMatch(/^tidemark-invite1\.[A-Za-z0-9_-]+$/);
  return invite;
}

/** A raw TLS client presenting `as`'s certificate and pinning `server`'s. */
export function tlsClient(
  address: string,
  as: SecureDevice,
  server: SecureDevice,
  options: grpc.ChannelOptions = {},
): SyncServiceClient {
  const { certificate } = server.credentials;
  const pinned = pinnedChannel(as.credentials, [
    { deviceId: certificate.deviceId, fingerprint: certificate.fingerprint, certificatePem: certificate.pem },
  ]);
  return new SyncServiceClient(address, pinned.credentials, {
    ...CLIENT_OPTIONS,
    ...pinned.options,
    ...options,
  });
}

export function handshakeWith(client: SyncServiceClient, libraryId: string, deviceId = ''): Promise<unknown> {
  return new Promise((resolve, reject) =>
    client.handshake(
      { libraryId, deviceId, epoch: '', protocolVersion: 1, heads: [], sentAtMs: 0 },
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + 10_000) },
      (error, response) => (error ? reject(error) : resolve(response)),
    ),
  );
}
