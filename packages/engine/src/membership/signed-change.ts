import * as crypto from 'node:crypto';
import { MembershipAction, MembershipChange } from '@tidemark/proto';
import { decodeHlc, encodeHlc } from '../hlc';
import { formatV8 } from '../stable-ids';
import { isUuid, MAX_BYTES, MAX_NAME_BYTES, validateHlc } from '../validate';
import { deviceIdOf, fingerprintOf } from './device-identity';

/**
 * One membership change as the engine handles it: the record's fields with the stamp in its
 * stored encoding (16 hex digits), which is also how the payload carries it.
 */
export interface SignedChange {
  /** The change id: derived from the payload (`changeIdOf`). */
  readonly uuid: string;
  readonly action: MembershipAction;
  readonly subject: string;
  readonly subjectFingerprint: string;
  /** The subject's certificate DER: set on ADD, empty otherwise. */
  readonly certificate: Buffer;
  readonly name: string;
  readonly legacy: boolean;
  readonly signer: string;
  readonly signature: Buffer;
  /** Encoded HLC (`encodeHlc`). */
  readonly hlc: string;
}

/** What a change says, without its id and signature: what the signer signs. */
export type ChangeContent = Omit<SignedChange, 'uuid' | 'signature'>;

/** Who signs a change: a member's device id, its certificate, and its key (held by the node). */
export interface MembershipSigner {
  readonly deviceId: string;
  readonly certificateDer: Buffer;
  /** ECDSA P-256 / SHA-256 signature, DER-encoded, of `payload` with the device's key. */
  sign(payload: Buffer): Buffer;
}

export const PAYLOAD_PREFIX = 'tidemark-membership-v1';
/** A legacy ADD says so in its payload, so the flag cannot be flipped after signing. */
const ACTION_WORDS: { readonly [action: number]: string } = {
  [MembershipAction.MEMBERSHIP_ACTION_ADD]: 'add',
  [MembershipAction.MEMBERSHIP_ACTION_REMOVE]: 'remove',
  [MembershipAction.MEMBERSHIP_ACTION_RENAME]: 'rename',
};

/**
 * The bytes a change's signature covers (docs/protocol.md, "Membership"): UTF-8 lines joined by
 * `\n`, each line ended by `\n`, then the raw certificate DER. The library id binds the change to
 * one library: replayed into another, its id and its signature no longer match.
 */
export function changePayload(libraryId: string, change: ChangeContent): Buffer {
  const word = ACTION_WORDS[change.action] ?? 'unspecified';
  const lines = [
    PAYLOAD_PREFIX,
    libraryId,
    change.legacy ? `legacy-${word}` : word,
    change.subject,
    change.subjectFingerprint,
    change.name,
    change.hlc,
    change.signer,
  ];
  return Buffer.concat([Buffer.from(`${lines.join('\n')}\n`, 'utf8'), change.certificate]);
}

/** The id of a change: a v8 UUID from the SHA-256 of its payload. */
export function changeIdOf(payload: Buffer): string {
  return formatV8(crypto.createHash('sha256').update(payload).digest().subarray(0, 16));
}

/** Signs a change's content: its id and signature follow from the payload. */
export function signChange(
  libraryId: string,
  signer: MembershipSigner,
  content: ChangeContent,
): SignedChange {
  const payload = changePayload(libraryId, content);
  return { ...content, uuid: changeIdOf(payload), signature: signer.sign(payload) };
}

/** A signer from a PEM private key and its certificate: what a node builds from its key files. */
export function signerFromKey(keyPem: string, certificateDer: Buffer): MembershipSigner {
  const key = crypto.createPrivateKey(keyPem);
  return {
    deviceId: deviceIdOf(certificateDer),
    certificateDer,
    sign: (payload) => crypto.sign('sha256', payload, { key, dsaEncoding: 'der' }),
  };
}

/** The public key of a device certificate, or what is wrong with it. */
export function publicKeyOf(certificateDer: Buffer): crypto.KeyObject | string {
  let key: crypto.KeyObject;
  try {
    key = new crypto.X509Certificate(certificateDer).publicKey;
  } catch (error) {
    return `certificate is not X.509: ${(error as Error).message}`;
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    return 'certificate key is not ECDSA P-256';
  }
  return key;
}

/** Whether `signature` is the signer's over the change, with the signer's public key. */
export function verifyChange(libraryId: string, change: SignedChange, signerKey: crypto.KeyObject): boolean {
  try {
    return crypto.verify(
      'sha256',
      changePayload(libraryId, change),
      { key: signerKey, dsaEncoding: 'der' },
      change.signature,
    );
  } catch {
    return false;
  }
}

const FINGERPRINT = /^[0-9a-f]{64}$/;
// C0 and C1 controls, DEL, and the line and paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * What is wrong with a change that needs no other change to tell, or undefined: its fields, its
 * id against its payload, and an ADD's certificate against its subject and fingerprint.
 */
export function checkChange(libraryId: string, change: SignedChange): string | undefined {
  const { action, subject, name, certificate } = change;
  if (ACTION_WORDS[action] === undefined) return `action ${action} is not ADD, REMOVE or RENAME`;
  if (!isUuid(subject)) return 'subject must be a lowercase hyphenated UUID';
  if (!isUuid(change.signer)) return 'signer must be a lowercase hyphenated UUID';
  if (!FINGERPRINT.test(change.subjectFingerprint)) {
    return 'subject_fingerprint must be 64 lowercase hex digits';
  }
  if (Buffer.byteLength(name) > MAX_NAME_BYTES || CONTROL.test(name)) {
    return `name must be at most ${MAX_NAME_BYTES} bytes without control characters`;
  }
  if (change.signature.length === 0 || change.signature.length > MAX_BYTES) return 'signature is missing';
  if (!/^[0-9a-f]{16}$/.test(change.hlc) || validateHlc(decodeHlc(change.hlc))) return 'hlc is invalid';
  const add = action === MembershipAction.MEMBERSHIP_ACTION_ADD;
  if (change.legacy && !(add && change.signer === subject)) {
    return 'only a self-signed ADD can be legacy';
  }
  if (action === MembershipAction.MEMBERSHIP_ACTION_REMOVE && name !== '') return 'a REMOVE has no name';
  if (!add && certificate.length > 0) return `a ${ACTION_WORDS[action]} carries no certificate`;
  if (add) {
    if (deviceIdOf(certificate) !== subject) return `certificate is not device ${subject}'s`;
    if (fingerprintOf(certificate) !== change.subjectFingerprint) {
      return "subject_fingerprint is not the certificate's";
    }
    const key = publicKeyOf(certificate);
    if (typeof key === 'string') return key;
  }
  if (changeIdOf(changePayload(libraryId, change)) !== change.uuid) {
    return 'uuid is not the id of its payload (altered after signing, or signed for another library)';
  }
  return undefined;
}

/** A received record as a change (its fields were validated by kind already). */
export function changeFromRecord(record: MembershipChange): SignedChange {
  return {
    uuid: record.uuid,
    action: record.action,
    subject: record.subject,
    subjectFingerprint: record.subjectFingerprint,
    certificate: Buffer.from(record.certificate),
    name: record.name,
    legacy: record.legacy,
    signer: record.signer,
    signature: Buffer.from(record.signature),
    hlc: record.hlc ? encodeHlc(record.hlc) : '',
  };
}

/** A change as the record that travels and is stored; `origin` is its signer. */
export function recordFromChange(change: SignedChange): MembershipChange {
  return {
    uuid: change.uuid,
    action: change.action,
    subject: change.subject,
    subjectFingerprint: change.subjectFingerprint,
    certificate: change.certificate,
    name: change.name,
    legacy: change.legacy,
    signer: change.signer,
    signature: change.signature,
    hlc: decodeHlc(change.hlc),
    origin: change.signer,
  };
}
