import * as grpc from '@grpc/grpc-js';
import type { SecureContextOptions } from 'node:tls';
import { DeviceCredentials } from './device-credentials';

/**
 * OpenSSL 3's SSL_OP_DISABLE_TLSEXT_CA_NAMES (not among Node 20's crypto.constants). Node puts
 * every `ca` certificate's subject into the CertificateRequest's list of acceptable issuers, a
 * list TLS caps at 65,535 bytes: from about 1,100 members on, OpenSSL cannot build the message
 * and every handshake fails ("tlsv1 alert internal error"). The list only hints which
 * certificate to send; our clients hold one, so the node sends none and verifies as before.
 */
export const DISABLE_CA_NAMES = 0x200;

/**
 * Server TLS for a library node. Every connection must present a client certificate
 * (`requestCert`), but an unknown one is not refused during the TLS handshake
 * (`rejectUnauthorized: false`): pairing callers are not members yet, and a non-member must get a
 * gRPC status (UNAUTHENTICATED), not a dropped socket it cannot tell from a network fault.
 *
 * The trust anchors are the members' own self-signed certificates, so the socket counts as
 * "authorized" exactly when the client proved it holds a member's key; grpc-js exposes the peer
 * certificate (call.getAuthContext()) only for authorized sockets, and call-guard.ts then pins
 * its fingerprint. `setMembers` swaps the anchors for new connections when membership changes.
 */
export class MemberServerCredentials extends grpc.ServerCredentials {
  private anchors: readonly string[];

  constructor(
    private readonly device: DeviceCredentials,
    memberCertificates: readonly string[],
  ) {
    super(
      { requestCert: true, rejectUnauthorized: false },
      MemberServerCredentials.context(device, memberCertificates),
    );
    this.anchors = memberCertificates;
  }

  setMembers(memberCertificates: readonly string[]): void {
    if (sameList(this.anchors, memberCertificates)) return;
    this.anchors = memberCertificates;
    this.updateSecureContextOptions(MemberServerCredentials.context(this.device, memberCertificates));
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }

  private static context(device: DeviceCredentials, members: readonly string[]): SecureContextOptions {
    // Never an empty list: without `ca`, Node would trust the public web PKI instead. Our own
    // certificate is a harmless anchor (the call guard still checks membership).
    // secureOptions sits here, not in the server options: a membership change replaces these.
    return {
      key: device.keyPem,
      cert: device.certificate.pem,
      ca: [device.certificate.pem, ...members],
      secureOptions: DISABLE_CA_NAMES,
    };
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}
