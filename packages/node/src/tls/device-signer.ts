import { MembershipSigner, signerFromKey } from '@tidemark/engine';
import { DeviceCredentials } from './device-credentials';

/** This device as the signer of membership changes: its key, its certificate, its device id. */
export function deviceSigner(device: DeviceCredentials): MembershipSigner {
  return signerFromKey(device.keyPem, device.certificate.der);
}
