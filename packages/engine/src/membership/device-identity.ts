import * as crypto from 'node:crypto';
import { formatV8 } from '../stable-ids';

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
  return formatV8(crypto.createHash('sha256').update(der).digest().subarray(0, 16));
}
