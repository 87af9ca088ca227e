import * as crypto from 'node:crypto';

/**
 * Certificates that `tidemark init` never makes (a CA, a P-384 key, one signed by another key,
 * a copied subject), to prove the inviter refuses them. A minimal DER encoder, like the
 * engine's, so the test needs no openssl binary.
 */
function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  const length = n < 0x80 ? Buffer.from([n]) : Buffer.from([0x80 | bytes.length, ...bytes]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}
const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, content: Buffer) => tlv(0xa0 + n, content);
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const octets = (content: Buffer) => tlv(0x04, content);
const bitString = (content: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), content]));
const bool = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0]));
const integer = (value: number) => tlv(0x02, Buffer.from([value]));
function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes = [parts[0] * 40 + parts[1]];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let rest = Math.floor(part / 128); rest > 0; rest = Math.floor(rest / 128))
      chunk.unshift(0x80 | (rest & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}
const utcTime = (date: Date) =>
  tlv(0x17, Buffer.from(date.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'));

export interface ForgeOptions {
  readonly curve?: 'prime256v1' | 'secp384r1';
  readonly ca?: boolean;
  readonly subject?: string;
  /** Sign with this key and name it as issuer, instead of self-signing. */
  readonly issuer?: { readonly key: crypto.KeyObject; readonly name: string };
}

export interface Forged {
  readonly keyPem: string;
  readonly der: Buffer;
  readonly pem: string;
}

export function forgeCertificate(options: ForgeOptions = {}): Forged {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', {
    namedCurve: options.curve ?? 'prime256v1',
  });
  const algorithm = sequence(oid('1.2.840.10045.4.3.2'));
  const name = (text: string) => sequence(set(sequence(oid('2.5.4.3'), utf8(text))));
  const subject = options.subject ?? `forged ${crypto.randomBytes(8).toString('hex')}`;
  const basicConstraints = options.ca ? sequence(bool(true)) : sequence();
  const tbs = sequence(
    explicit(0, integer(2)),
    tlv(0x02, Buffer.concat([Buffer.from([1]), crypto.randomBytes(15)])),
    algorithm,
    name(options.issuer?.name ?? subject),
    sequence(utcTime(new Date(Date.now() - 86_400_000)), utcTime(new Date(Date.now() + 86_400_000 * 365))),
    name(subject),
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, sequence(sequence(oid('2.5.29.19'), bool(true), octets(basicConstraints)))),
  );
  const signature = crypto.sign('sha256', tbs, {
    key: options.issuer?.key ?? privateKey,
    dsaEncoding: 'der',
  });
  const der = sequence(tbs, algorithm, bitString(signature));
  const pem = `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`;
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), der, pem };
}
