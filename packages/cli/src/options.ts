import { Library, TidemarkError } from '@tidemark/engine';
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

/** Plaintext only where it is said out loud: until TLS lands, every network command needs it. */
export function requireInsecure(insecure: boolean | undefined): void {
  if (!insecure) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      'TLS is not available yet: pass --insecure to use plaintext gRPC (loopback or trusted networks only)',
    );
  }
}
