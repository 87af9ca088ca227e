import * as crypto from 'node:crypto';
import { deviceIdOf, fingerprintOf, TidemarkError } from '@tidemark/engine';

// Derived in the engine, which verifies signed membership changes with the same derivation.
export { deviceIdOf, fingerprintOf };

/** A parsed certificate with the identity derived from it. */
export interface CertificateIdentity {
  readonly deviceId: string;
  readonly fingerprint: string;
  readonly der: Buffer;
  readonly pem: string;
  readonly x509: crypto.X509Certificate;
}

/** Parses a PEM or DER certificate from an untrusted source; INVALID_ARGUMENT when it does not parse. */
export function identityOf(certificate: string | Buffer): CertificateIdentity {
  let x509: crypto.X509Certificate;
  try {
    x509 = new crypto.X509Certificate(certificate);
  } catch (error) {
    throw new TidemarkError('INVALID_ARGUMENT', `not an X.509 certificate: ${(error as Error).message}`);
  }
  const der = x509.raw;
  return { deviceId: deviceIdOf(der), fingerprint: fingerprintOf(der), der, pem: x509.toString(), x509 };
}
