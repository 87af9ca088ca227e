import { createInvite, TidemarkError } from '@tidemark/engine';
import { encodeInvite, loadDeviceCredentials } from '@tidemark/node';
import { Command } from 'commander';
import { randomBytes, randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { hostPort } from '../options';
import { formatTime, printJson } from '../output';
import { withLibrary } from '../with-library';

const MAX_TTL_MS = 24 * 3600_000;

/** "90s", "10m", "1h" (a bare number is seconds) to milliseconds, at most 24 h. */
export function parseTtl(value: string): number {
  const units: { readonly [unit: string]: number } = { s: 1_000, m: 60_000, h: 3600_000 };
  const match = /^(\d+)\s*(s|m|h)?$/.exec(value.trim());
  const ms = match ? Number(match[1]) * (units[match[2] ?? 's'] ?? NaN) : NaN;
  if (!(ms > 0 && ms <= MAX_TTL_MS)) {
    throw new TidemarkError('INVALID_ARGUMENT', `--ttl "${value}" must be like 90s, 10m or 1h, at most 24h`);
  }
  return ms;
}

export function registerInvite(program: Command): void {
  program
    .command('invite')
    .description('print a short-lived, single-use invite for another device to join this library')
    .requiredOption('--library <dir>', 'library directory')
    .requiredOption(
      '--address <host:port>',
      "where the joiner reaches this device's `tidemark node`",
      hostPort,
    )
    .option(
      '--ttl <duration>',
      'how long the invite is valid (e.g. 90s, 10m, 1h; at most 24h)',
      parseTtl,
      10 * 60_000,
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The invite holds the library id, this address, this device's certificate fingerprint and a
random secret; this device keeps only a hash of the secret. Keep \`tidemark node\` running
(without --insecure) until the other device has joined.

Example:
  $ tidemark invite --library ~/tidemark/laptop --address 192.168.1.20:7400 --ttl 10m
  (on the other device)
  $ tidemark join --library ~/tidemark/desktop tidemark-invite1.eyJ...`,
    )
    .action(async (options: { library: string; address: string; ttl: number; json?: boolean }) => {
      await withLibrary(options.library, async (library) => {
        const device = loadDeviceCredentials(path.resolve(options.library), library.identity.deviceId);
        const inviteId = randomUUID();
        const secret = randomBytes(32);
        const expiresAtMs = Date.now() + options.ttl;
        await createInvite(library, { inviteId, secret, address: options.address, expiresAtMs });
        const invite = encodeInvite({
          libraryId: library.identity.libraryId,
          inviteId,
          address: options.address,
          fingerprint: device.certificate.fingerprint,
          secret,
          expiresAtMs,
        });
        if (options.json) printJson({ invite, inviteId, address: options.address, expiresAtMs });
        else {
          process.stdout.write(
            `${invite}\n\nsingle use, valid until ${formatTime(expiresAtMs)}; on the new device run:\n` +
              `  tidemark join --library DIR ${invite.slice(0, 24)}...\n`,
          );
        }
      });
    });
}
