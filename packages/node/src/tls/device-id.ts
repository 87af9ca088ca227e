import * as crypto from 'node:crypto';
import { TidemarkError } from '@tidemark/engine';

/** Lowercase hex SHA-256 of a certificate's DER encoding: what peers pin. */
export function fingerprintOf(der: Buffer): string {
  return crypto.createHash('sha256').update(der).digest('hex');
}

/**
 * The device id of a certificate, like Syncthing's device ID: it is derived from the
 * certificate, so nobody can claim a device id without holding the certificate's key. Device ids
 * are UUIDs everywhere in the schema and protocol, so the derivation is: the first 16 bytes of
 * SHA-256(DER), with the version nibble set to 8 (RFC 9562 "custom") and the variant bits to
 * 10xx, formatted as a lowercase hyphenated UUID.
 */
export function deviceIdOf(der: Buffer): string {
  const bytes = crypto.createHash('sha256').update(der).digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

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
