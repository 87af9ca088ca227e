import { Library, TidemarkError } from '@tidemark/engine';
import { isLoopbackHost, parseHostPort } from '@tidemark/node';
import * as path from 'node:path';

/** `--library DIR` to the database file inside it. */
export function libraryFile(dir: string): string {
  return Library.fileIn(path.resolve(dir));
}

/** Validates "HOST:PORT" (IPv6 as "[::1]:PORT"). */
export function hostPort(value: string): string {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) > 65535) {
    throw new TidemarkError('INVALID_ARGUMENT', `"${value}" is not HOST:PORT (for example 127.0.0.1:7400)`);
  }
  return value;
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
