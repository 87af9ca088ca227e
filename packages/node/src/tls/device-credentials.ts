import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  createPrivateDirectory,
  createPrivateFile,
  createSelfSignedCertificate,
  TidemarkError,
} from '@tidemark/engine';
import { CertificateIdentity, identityOf } from './device-id';

/** File names inside the library directory. The key never leaves this device. */
export const DEVICE_KEY_FILE = 'device-key.pem';
export const DEVICE_CERT_FILE = 'device-cert.pem';

/** This device's key pair and certificate. */
export interface DeviceCredentials {
  readonly keyPem: string;
  readonly certificate: CertificateIdentity;
}

/**
 * Makes this device's key and self-signed certificate in `dir`. The key is written with mode
 * 0600 (created exclusively, so an existing key is never overwritten); the certificate is public.
 */
export function createDeviceCredentials(dir: string, commonName = 'tidemark device'): DeviceCredentials {
  const keyFile = path.join(dir, DEVICE_KEY_FILE);
  if (fs.existsSync(keyFile)) {
    throw new TidemarkError('ALREADY_EXISTS', `${keyFile} already exists; a device keeps its key for life`);
  }
  createPrivateDirectory(dir);
  const { keyPem, certificatePem } = createSelfSignedCertificate(commonName);
  createPrivateFile(
    keyFile,
    keyPem,
    `${keyFile} already exists (another init or join into ${dir} at the same time?); a device keeps its key for life`,
  );
  fs.writeFileSync(path.join(dir, DEVICE_CERT_FILE), certificatePem, { mode: 0o644 });
  return { keyPem, certificate: identityOf(certificatePem) };
}

export function hasDeviceCredentials(dir: string): boolean {
  return fs.existsSync(path.join(dir, DEVICE_KEY_FILE)) && fs.existsSync(path.join(dir, DEVICE_CERT_FILE));
}

/**
 * Loads the key and certificate from `dir` and checks that they belong to `deviceId`. A key
 * readable by group or others is refused, as ssh does: it may already be copied.
 */
export function loadDeviceCredentials(dir: string, deviceId: string): DeviceCredentials {
  const keyFile = path.join(dir, DEVICE_KEY_FILE);
  if (!hasDeviceCredentials(dir)) {
    throw new TidemarkError(
      'NOT_FOUND',
      `no device certificate in ${dir} (the library was made before TLS, or without \`tidemark init\`); ` +
        'use --insecure on loopback, or create a new library with `tidemark init` or `tidemark join`',
    );
  }
  if (process.platform !== 'win32' && (fs.statSync(keyFile).mode & 0o077) !== 0) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `${keyFile} is readable by other users; run: chmod 600 ${keyFile}`,
    );
  }
  const keyPem = fs.readFileSync(keyFile, 'utf8');
  const certificate = identityOf(fs.readFileSync(path.join(dir, DEVICE_CERT_FILE)));
  if (certificate.deviceId !== deviceId) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `the certificate in ${dir} is device ${certificate.deviceId}, but the library belongs to device ${deviceId}`,
    );
  }
  return { keyPem, certificate };
}
