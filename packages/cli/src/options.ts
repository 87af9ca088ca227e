import { DATABASE_LOCATOR_FILE, isDatabaseUrl, Library, TidemarkError } from '@tidemark/engine';
import { DEVICE_CERT_FILE, DEVICE_KEY_FILE, isLoopbackHost, parseHostPort } from '@tidemark/node';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * `--library DIR` to the database file inside it. For a hub the file does not exist: the engine
 * opens the PostgreSQL database named by DIR/database.json instead.
 */
export function libraryFile(dir: string): string {
  return Library.fileIn(path.resolve(dir));
}

/**
 * What indexing a folder leaves out (`index`, `node --watch`): the library's directory when it
 * lies inside the folder, and the library's own files when the folder is that directory (the
 * database changes while the index is written; the device key is private). None when DIR is missing.
 */
export function libraryOwnPaths(dir: string): string[] {
  let real: string;
  try {
    real = fs.realpathSync(path.resolve(dir));
  } catch {
    return [];
  }
  const database = Library.fileIn(real);
  return [
    real,
    ...['', '-wal', '-shm', '-journal', '.history'].map((suffix) => `${database}${suffix}`),
    ...[DEVICE_KEY_FILE, DEVICE_CERT_FILE, DATABASE_LOCATOR_FILE].map((name) => path.join(real, name)),
  ];
}

/** DIR/database.json: where a hub library's PostgreSQL database is. */
export function databaseLocator(dir: string): string {
  return path.join(path.resolve(dir), DATABASE_LOCATOR_FILE);
}

/** True when DIR holds a library: a SQLite library.db, or a hub's database.json. */
export function libraryExistsIn(dir: string): boolean {
  return fs.existsSync(libraryFile(dir)) || fs.existsSync(databaseLocator(dir));
}

/** True when DIR is a hub library: its rows live in PostgreSQL, not in DIR. */
export function isHubLibrary(dir: string): boolean {
  return !fs.existsSync(libraryFile(dir)) && fs.existsSync(databaseLocator(dir));
}

/** How output names the library in DIR: its database file, or the hub's directory. */
export function libraryLabel(dir: string): string {
  return isHubLibrary(dir) ? `${path.resolve(dir)} (hub library)` : libraryFile(dir);
}

/** Validates `--database URL`: a postgres:// or postgresql:// URL. */
export function databaseUrl(value: string): string {
  if (!isDatabaseUrl(value)) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `--database needs a PostgreSQL URL such as postgres://user@host:5432/tidemark, got "${redactedUrl(value)}"`,
    );
  }
  return value;
}

/** A database URL without its password, for output and logs. */
export function redactedUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

/**
 * Refuses a hub library for a command that works on this machine's own files (indexing a
 * folder): a hub's node processes may run on many machines, and the hub owns no folders.
 */
export function refuseHub(dir: string, what: string): void {
  if (!isHubLibrary(dir)) return;
  throw new TidemarkError(
    'INVALID_ARGUMENT',
    `${path.resolve(dir)} is a hub library (PostgreSQL), which has no folders of its own: ${what} on a device, and let the hub sync from it`,
  );
}

/** Validates "HOST:PORT" (IPv6 as "[::1]:PORT"). */
export function hostPort(value: string): string {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) > 65535) {
    throw new TidemarkError('INVALID_ARGUMENT', `"${value}" is not HOST:PORT (for example 127.0.0.1:7400)`);
  }
  return value;
}

/** An option's integer that must be at least 1 (where 0 would mean nothing sensible). */
export function atLeastOne(label: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `${label} must be an integer of at least 1, got "${value}"`,
      );
    }
    return n;
  };
}

export function positiveInt(label: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new TidemarkError('INVALID_ARGUMENT', `${label} must be a non-negative integer, got "${value}"`);
    }
    return n;
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, hostPort(value)];
}

/**
 * --insecure is plaintext with no authentication and no authorization, so it is allowed only when
 * every address stays on this machine, and it says so on a terminal. Returns the flag.
 */
export function checkInsecure(insecure: boolean | undefined, addresses: readonly string[]): boolean {
  if (!insecure) return false;
  const exposed = addresses.find((address) => !isLoopbackHost(parseHostPort(address, 'address').host));
  if (exposed !== undefined) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `--insecure (plaintext, unauthenticated) is allowed on loopback addresses only, not ${exposed}; ` +
        'drop --insecure to use mutual TLS between paired devices',
    );
  }
  // Only on a terminal: scripts and tests read stderr as "one line per error".
  if (process.stderr.isTTY) {
    process.stderr.write(
      'tidemark: warning: --insecure: plaintext gRPC, no authentication, no authorization\n',
    );
  }
  return true;
}
