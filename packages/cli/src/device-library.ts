import { isTidemarkError, isUuid, Library, TidemarkError } from '@tidemark/engine';
import {
  createDeviceCredentials,
  DEVICE_CERT_FILE,
  DEVICE_KEY_FILE,
  DeviceCredentials,
} from '@tidemark/node';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { databaseLocator, libraryExistsIn, libraryFile, redactedUrl } from './options';

export interface DeviceLibraryOptions {
  readonly libraryId?: string;
  readonly name?: string;
  readonly deviceName?: string;
  /** A hub library: its rows in this PostgreSQL database, DIR keeping database.json and the key. */
  readonly databaseUrl?: string;
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
  if (libraryExistsIn(dir)) {
    const existing = fs.existsSync(file) ? file : databaseLocator(dir);
    throw new TidemarkError('ALREADY_EXISTS', `${existing} already exists; open it instead of creating it`);
  }
  // A file where DIR should be: say so, rather than fail on the key's path inside it.
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `${path.resolve(dir)} is not a directory; --library names the directory that holds the library`,
    );
  }
  // Checked before any key is written, so a typo leaves nothing behind.
  if (options.libraryId !== undefined && !isUuid(options.libraryId)) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `library id "${options.libraryId}" must be a lowercase hyphenated UUID`,
    );
  }
  // A key without a library: an init or join cut short after it made the key (killed, power
  // cut), or a library deleted after use. Only the user can tell; reusing the key for a deleted
  // library's device would start it anew without its rows, so say what to do for either.
  if (fs.existsSync(path.join(dir, DEVICE_KEY_FILE))) {
    throw new TidemarkError(
      'ALREADY_EXISTS',
      `${path.resolve(dir)} holds a device key but no library: if an init or join into it was cut short, ` +
        `remove ${DEVICE_KEY_FILE} and ${DEVICE_CERT_FILE} from it and run the command again; if it held a ` +
        'library that was deleted, restore the library from a backup instead (a device keeps its key for life)',
    );
  }
  const deviceName = options.deviceName ?? os.hostname();
  const credentials = createDeviceCredentials(path.resolve(dir), `tidemark ${deviceName}`);
  const library = await Library.create(file, {
    libraryId: options.libraryId,
    deviceId: credentials.certificate.deviceId,
    name: options.name,
    deviceName,
    ...(options.databaseUrl === undefined ? {} : { databaseUrl: options.databaseUrl }),
  }).catch((error: unknown) => {
    // A database that refused (unreachable, already holds a library) leaves no half-made device.
    for (const name of [DEVICE_KEY_FILE, DEVICE_CERT_FILE]) fs.rmSync(path.join(dir, name), { force: true });
    if (options.databaseUrl !== undefined && isTidemarkError(error) && error.code === 'ALREADY_EXISTS') {
      // The engine's words name its API; say what to do on the command line.
      const schema = new URL(options.databaseUrl).searchParams.get('schema') ?? 'public';
      throw new TidemarkError(
        'ALREADY_EXISTS',
        `schema "${schema}" of ${redactedUrl(options.databaseUrl)} already holds a library: name another with ` +
          '?schema=NAME in the URL (a join that failed leaves the tables it made there: drop them if nothing uses them)',
        { cause: error },
      );
    }
    throw error;
  });
  return { library, credentials };
}
