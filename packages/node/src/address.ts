import { TidemarkError } from '@tidemark/engine';

/** A parsed "HOST:PORT"; `host` keeps IPv6 brackets off, `format` puts them back. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses "HOST:PORT" (IPv6 as "[::1]:PORT"). Done up front so that a typo in a flag fails at
 * startup with the offending value, instead of as a vague bind or dial error later.
 */
export function parseHostPort(value: string, what: string): HostPort {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65_535) {
    throw new TidemarkError('INVALID_ARGUMENT', `${what} "${value}" must be HOST:PORT, e.g. 127.0.0.1:7070`);
  }
  return { host: match[1] ?? match[2], port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * True for addresses that never leave this machine: "localhost", 127.0.0.0/8 and ::1. Only these
 * may be used with --insecure, where nothing is authenticated or encrypted.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare) || bare === '::ffff:127.0.0.1'
  );
}
