import * as crypto from 'node:crypto';
import { TidemarkError } from '@tidemark/engine';
import { CertificateIdentity } from './device-id';

/**
 * Checks the certificate a joiner presents before it becomes a trust anchor on every member:
 * the shape `tidemark init` makes, and a subject no other member has. OpenSSL looks anchors up
 * by subject name, so a joiner copying a member's subject could shadow that member's anchor
 * (its handshakes would then fail as "self-signed certificate"). Throws INVALID_ARGUMENT.
 */
export function checkJoinerCertificate(
  joiner: CertificateIdentity,
  members: readonly { readonly deviceId: string; readonly certificatePem: string }[],
): void {
  const { x509 } = joiner;
  const refuse = (why: string) =>
    new TidemarkError('INVALID_ARGUMENT', `the joiner's certificate ${why}; make it with \`tidemark join\``);
  const key = x509.publicKey;
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw refuse('must hold a P-256 (prime256v1) EC key');
  }
  if (x509.ca) throw refuse('must not be a CA certificate (basicConstraints cA must be false)');
  if (x509.issuer !== x509.subject || !x509.verify(key)) {
    throw refuse('must be self-signed (issuer equal to subject, signed by its own key)');
  }
  for (const member of members) {
    if (member.deviceId === joiner.deviceId) continue;
    if (new crypto.X509Certificate(member.certificatePem).subject === x509.subject) {
      throw refuse(`has the subject of member ${member.deviceId}; subjects must be unique to a device`);
    }
  }
}
