import * as crypto from 'node:crypto';

/**
 * What a joiner signs to prove it holds its certificate's key (PairRequest.proof): bound to the
 * library and the invite, so a proof cannot be reused for another invite.
 */
export function pairingTranscript(libraryId: string, inviteId: string, secret: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`tidemark-pair-v1\n${libraryId}\n${inviteId}\n`, 'utf8'), secret]);
}

export function signPairing(keyPem: string, transcript: Buffer): Buffer {
  return crypto.sign('sha256', transcript, { key: keyPem, dsaEncoding: 'der' });
}

export function verifyPairing(publicKey: crypto.KeyObject, transcript: Buffer, proof: Buffer): boolean {
  try {
    return crypto.verify('sha256', transcript, { key: publicKey, dsaEncoding: 'der' }, proof);
  } catch {
    return false;
  }
}
