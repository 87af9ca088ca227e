import { X509Certificate } from 'node:crypto';
import { deviceIdOf, fingerprintOf } from '../src/membership/device-identity';
import { createSelfSignedCertificate } from '../src/membership/self-signed-certificate';
import { MembershipSigner, signerFromKey } from '../src/membership/signed-change';

/** A device identity as a node holds it: a real P-256 key and its self-signed certificate. */
export interface DeviceKey {
  readonly deviceId: string;
  readonly fingerprint: string;
  readonly certificateDer: Buffer;
  readonly keyPem: string;
  readonly signer: MembershipSigner;
}

export function makeDeviceKey(label = 'test device'): DeviceKey {
  const { keyPem, certificatePem } = createSelfSignedCertificate(label);
  const certificateDer = new X509Certificate(certificatePem).raw;
  return {
    deviceId: deviceIdOf(certificateDer),
    fingerprint: fingerprintOf(certificateDer),
    certificateDer,
    keyPem,
    signer: signerFromKey(keyPem, certificateDer),
  };
}
