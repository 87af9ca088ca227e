import { isUuid, Library, TidemarkError } from '@tidemark/engine';
import { createDeviceCredentials, DeviceCredentials } from '@tidemark/node';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { libraryFile } from './options';

export interface DeviceLibraryOptions {
  readonly libraryId?: string;
  readonly name?: string;
  readonly deviceName?: string;
}

/**
 * Creates a library database for a new device together with its identity: a key pair and a
 * self-signed certificate in DIR (key mode 0600), and the device id derived from that
 * certificate, so the id cannot be claimed by anyone without the key.
 */
export async function createDeviceLibrary(
  dir: string,
  options: DeviceLibraryOptions,
): Promise<{ library: Library; credentials: DeviceCredentials }> {
  const file = libraryFile(dir);
  if (fs.existsSync(file)) {
    throw new TidemarkError('ALREADY_EXISTS', `${file} already exists; open it instead of creating it`);
  }
  // Checked before any key is written, so a typo leaves nothing behind.
  if (options.libraryId !== undefined && !isUuid(options.libraryId)) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `library id "${options.libraryId}" must be a lowercase hyphenated UUID`,
    );
  }
  const deviceName = options.deviceName ?? os.hostname();
  const credentials = createDeviceCredentials(path.resolve(dir), `tidemark ${deviceName}`);
  const library = await Library.create(file, {
    libraryId: options.libraryId,
    deviceId: credentials.certificate.deviceId,
    name: options.name,
    deviceName,
  });
  return { library, credentials };
}
