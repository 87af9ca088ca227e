import * as path from 'node:path';
import { Library, Member } from '@tidemark/engine';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config';
import { INSECURE_SERVER, ServerSecurity } from '../server/grpc-server';
import { GrpcSyncTransport } from '../peers/grpc-transport';
import { TrustedCertificate } from '../tls/client-credentials';
import { loadDeviceCredentials } from '../tls/device-credentials';
import { PeerPins } from '../tls/peer-pins';
import { MemberServerCredentials } from '../tls/server-credentials';
import { memberGuard } from './call-guard';
import { bridgeLegacyMembers } from './legacy-bridge';
import { MembershipWatch } from './membership-watch';

export interface MembersChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/** Everything the node needs to serve and dial, in TLS or in --insecure mode. */
export interface NodeSecurity {
  readonly server: ServerSecurity;
  /** A transport to a peer, pinned to the members as they are right now. */
  connect(address: string): GrpcSyncTransport;
  /** Called whenever members are added or removed, with their device ids. */
  onMembersChanged(listener: (change: MembersChange) => void): void;
  close(): void;
}

export function trustedOf(member: Member): TrustedCertificate {
  return {
    deviceId: member.deviceId,
    fingerprint: member.fingerprint,
    certificatePem: member.certificatePem,
  };
}

export async function openNodeSecurity(
  library: Library,
  config: ResolvedConfig,
  logger: Logger,
): Promise<NodeSecurity> {
  if (config.insecure) {
    logger.warn(
      { listen: config.listen, peers: config.peers },
      'INSECURE MODE: plaintext gRPC with no authentication and no authorization; loopback addresses only',
    );
    return {
      server: INSECURE_SERVER,
      connect: (address) => new GrpcSyncTransport(address, { insecure: true }),
      onMembersChanged: () => undefined,
      close: () => undefined,
    };
  }
  const device = loadDeviceCredentials(
    config.credentialsDir ?? path.dirname(config.libraryFile),
    library.identity.deviceId,
  );
  const bridged = await bridgeLegacyMembers(library, device);
  if (bridged > 0) logger.info({ changes: bridged }, 'local members migrated to signed membership changes');
  const members = await MembershipWatch.start(
    library,
    config.membershipCheckMs,
    logger.child({ component: 'members' }),
  );
  const credentials = new MemberServerCredentials(
    device,
    members.members.map((member) => member.certificatePem),
  );
  let known = new Set(members.members.map((member) => member.deviceId));
  const listeners: ((change: MembersChange) => void)[] = [];
  const pins = new PeerPins();
  members.onChange((active) => {
    credentials.setMembers(active.map((member) => member.certificatePem));
    const now = new Set(active.map((member) => member.deviceId));
    const removed = [...known].filter((deviceId) => !now.has(deviceId));
    const added = [...now].filter((deviceId) => !known.has(deviceId));
    known = now;
    if (!removed.length && !added.length) return;
    pins.forget(removed);
    for (const listener of listeners) listener({ added, removed });
  });
  logger.info(
    { device: device.certificate.deviceId, fingerprint: device.certificate.fingerprint, members: known.size },
    'mutual TLS: serving and dialing paired members only',
  );
  return {
    server: {
      credentials,
      guard: memberGuard(library.identity.libraryId, members),
      tls: { device, members },
    },
    connect: (address) =>
      new GrpcSyncTransport(address, { tls: { device, trusted: members.members.map(trustedOf), pins } }),
    onMembersChanged: (listener) => listeners.push(listener),
    close: () => members.close(),
  };
}
