import * as crypto from 'node:crypto';
import { bitString, bool, explicit, octets, oid, sequence, set, time, unsigned, utf8 } from './der';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';
const BASIC_CONSTRAINTS = '2.5.29.19';
const KEY_USAGE = '2.5.29.15';
/** RFC 5280 4.1.2.5: "no well-defined expiration date". Device identity does not expire. */
const NO_EXPIRY = new Date(Date.UTC(9999, 11, 31, 23, 59, 59));
/**
 * Valid from the Unix epoch, whatever this device's clock says: peers check the validity period
 * with their own clocks, and a start taken from the clock at `init` (it was a day before it)
 * made a device made with its clock fast, or checked by a peer whose clock is slow, "not yet
 * valid" there, so no TLS pairing or sync with it for days (docs/architecture.md, "Clocks").
 */
const VALID_FROM = new Date(Date.UTC(1970, 0, 1, 0, 0, 0));

export interface KeyAndCertificate {
  /** PKCS#8 PEM of the P-256 private key. */
  readonly keyPem: string;
  readonly certificatePem: string;
}

/**
 * Makes a P-256 key pair and a self-signed X.509 v3 certificate for it. Trust never comes from a
 * CA: peers pin the certificate's SHA-256 fingerprint, so the subject is only a (unique) label.
 */
export function createSelfSignedCertificate(commonName: string): KeyAndCertificate {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const algorithm = sequence(oid(ECDSA_WITH_SHA256));
  // Unique per certificate: OpenSSL finds a trust anchor by subject name, and pinned anchors
  // sharing one name would shadow each other ("self-signed certificate" for the wrong one).
  const subject = `${commonName} ${crypto.randomBytes(8).toString('hex')}`;
  const name = sequence(set(sequence(oid(COMMON_NAME), utf8(subject))));
  const extensions = explicit(
    3,
    sequence(
      sequence(oid(BASIC_CONSTRAINTS), bool(true), octets(sequence())),
      // digitalSignature only: the key signs TLS handshakes and pairing proofs, nothing else.
      sequence(oid(KEY_USAGE), bool(true), octets(bitString(Buffer.from([0x80])))),
    ),
  );
  const tbs = sequence(
    explicit(0, unsigned(Buffer.from([2]))),
    unsigned(crypto.randomBytes(16)),
    algorithm,
    name,
    sequence(time(VALID_FROM), time(NO_EXPIRY)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
  );
  const signature = crypto.sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const der = sequence(tbs, algorithm, bitString(signature));
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certificatePem: toPem('CERTIFICATE', der),
  };
}

export function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
