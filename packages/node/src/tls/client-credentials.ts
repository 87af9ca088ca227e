import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { DeviceCredentials } from './device-credentials';
import { fingerprintOf } from './device-id';

/** A certificate this client accepts from a server. */
export interface TrustedCertificate {
  readonly deviceId: string;
  readonly fingerprint: string;
  readonly certificatePem: string;
}

/**
 * The TLS name sent as SNI and checked by nobody: trust is the pinned fingerprint. A fixed name
 * also keeps Node from warning about IP addresses as server names (RFC 6066).
 */
export const TLS_SERVER_NAME = 'tidemark';

export interface PinnedChannel {
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ChannelOptions;
}

/**
 * Client TLS that presents this device's certificate and accepts only servers presenting one of
 * `trusted` (no CA, no hostname check). Node verifies the chain against the trusted certificates
 * themselves, then `checkServerIdentity` pins the exact fingerprint. Which member answered is
 * a question about one call, not the channel: see `SecuredChannel.checkServedBy`.
 */
export function pinnedChannel(
  device: DeviceCredentials,
  trusted: readonly TrustedCertificate[],
): PinnedChannel {
  const fingerprints = new Set(trusted.map((entry) => entry.fingerprint));
  const checkServerIdentity = (_host: string, certificate: PeerCertificate): Error | undefined => {
    const fingerprint = fingerprintOf(certificate.raw);
    if (!fingerprints.has(fingerprint)) {
      return new Error(`the server's certificate ${fingerprint} is not a member of this library`);
    }
    return undefined;
  };
  const credentials = grpc.credentials.createSsl(
    Buffer.from([device.certificate.pem, ...trusted.map((entry) => entry.certificatePem)].join('\n')),
    Buffer.from(device.keyPem),
    Buffer.from(device.certificate.pem),
    { checkServerIdentity },
  );
  return {
    credentials,
    options: { 'grpc.ssl_target_name_override': TLS_SERVER_NAME, 'grpc.default_authority': TLS_SERVER_NAME },
  };
}
