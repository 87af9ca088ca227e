import {
  createInvite,
  InviteRecord,
  isUuid,
  Library,
  readInvites,
  readLibraryRoot,
  readMembers,
  readMembershipChanges,
  revokeInvite,
  signGenesis,
  TidemarkError,
} from '@tidemark/engine';
import {
  bridgeLegacyMembers,
  DeviceCredentials,
  deviceSigner,
  encodeInvite,
  loadDeviceCredentials,
} from '@tidemark/node';
import { Command, Option } from 'commander';
import { randomBytes, randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { hostPort } from '../options';
import { formatTable, formatTime, printJson } from '../output';
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

/** What `invite list` says of an invite's state: open, expired, used or revoked. */
export function inviteStatus(invite: InviteRecord, nowMs: number): string {
  if (invite.revokedAtMs !== undefined) return `revoked ${formatTime(invite.revokedAtMs)}`;
  if (invite.used) return `used ${formatTime(invite.used.atMs)}`;
  return nowMs >= invite.expiresAtMs ? 'expired' : 'open';
}

/**
 * Makes sure the library keeps its membership as signed changes before this device admits
 * anyone: a library that never had members is founded here (this device becomes its root and
 * signs its own ADD), one paired before signed membership is bridged. Founding waits for the
 * first invite, not `init`: a library used only with --insecure (devices made with
 * `init --library-id`, which have no root) never gets a membership that they would refuse.
 */
async function ensureSignedMembership(library: Library, device: DeviceCredentials): Promise<void> {
  const members = await readMembers(library);
  const self = members.find((member) => member.deviceId === library.identity.deviceId);
  if (self?.removedAtMs !== undefined) {
    throw new TidemarkError(
      'FAILED_PRECONDITION',
      'this device was removed from the library: it cannot invite (its invites are void); ask another member',
    );
  }
  if ((await readMembershipChanges(library)).length > 0) return;
  if ((await readLibraryRoot(library)) !== '') {
    throw new TidemarkError(
      'FAILED_PRECONDITION',
      "this device joined the library but has not received its membership yet: run this device's " +
        '`tidemark node` with a member as --peer (or `tidemark sync`) first, then invite',
    );
  }
  if (members.length > 0) await bridgeLegacyMembers(library, device);
  else {
    await signGenesis(library, deviceSigner(device)).catch(async (error: unknown) => {
      // Another `tidemark invite` on this device founded it since the read above: that serves.
      if ((await readMembershipChanges(library)).length === 0) throw error;
    });
  }
}

/** Commander cannot require these: they would then be required of `invite list` too. */
function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined)
    throw new TidemarkError('INVALID_ARGUMENT', `required option '${flag}' not specified`);
  return value;
}

export function registerInvite(program: Command): void {
  const invite = program
    .command('invite')
    .description('print a short-lived, single-use invite for another device to join this library')
    // `invite list --library X`: the subcommand's options are its own, not this command's.
    .enablePositionalOptions()
    .option('--library <dir>', 'library directory (required)')
    .option(
      '--address <host:port>',
      "where the joiner reaches this device's `tidemark node` (required)",
      hostPort,
    )
    .addOption(
      new Option('--ttl <duration>', 'how long the invite is valid (e.g. 90s, 10m, 1h; at most 24h)')
        .argParser(parseTtl)
        // Shown as it is typed, not as the milliseconds it becomes.
        .default(10 * 60_000, '10m'),
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The invite holds the library id, this address, this device's certificate fingerprint and a
random secret; this device keeps only a hash of the secret. Keep \`tidemark node\` running
(without --insecure) until the other device has joined: its node signs the new member in, and
that signed record reaches every member by sync. The first invite of a new library founds its
membership: this device becomes the library's root. A device removed from the library cannot
invite, and the invites it issued are void.

Example:
  $ tidemark invite --library ~/tidemark/laptop --address 192.168.1.20:7400 --ttl 10m > invite.txt
  (copy invite.txt to the other device, then there)
  $ tidemark join --library ~/tidemark/desktop --invite-file invite.txt

See also \`tidemark invite list\` and \`tidemark invite revoke\`.`,
    )
    .action(async (flags: { library?: string; address?: string; ttl: number; json?: boolean }) => {
      const options = {
        ...flags,
        library: required(flags.library, '--library <dir>'),
        address: required(flags.address, '--address <host:port>'),
      };
      await withLibrary(options.library, async (library) => {
        const device = loadDeviceCredentials(path.resolve(options.library), library.identity.deviceId);
        await ensureSignedMembership(library, device);
        const inviteId = randomUUID();
        const secret = randomBytes(32);
        const expiresAtMs = Date.now() + options.ttl;
        await createInvite(library, { inviteId, secret, address: options.address, expiresAtMs });
        const code = encodeInvite({
          libraryId: library.identity.libraryId,
          inviteId,
          address: options.address,
          fingerprint: device.certificate.fingerprint,
          secret,
          expiresAtMs,
        });
        if (options.json) printJson({ invite: code, inviteId, address: options.address, expiresAtMs });
        else {
          // The invite alone on stdout, so `> invite.txt` keeps a file `join --invite-file` reads.
          process.stdout.write(`${code}\n`);
          process.stderr.write(
            `\nsingle use, valid until ${formatTime(expiresAtMs)}; on the new device run:\n` +
              `  tidemark join --library DIR --invite-file FILE   (or paste it: tidemark join --library DIR)\n`,
          );
        }
      });
    });

  invite
    .command('list')
    .description('list the invites this device issued: open, expired, used (by whom) or revoked')
    .requiredOption('--library <dir>', 'library directory')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  $ tidemark invite list --library ~/tidemark/laptop')
    .action(async (options: { library: string; json?: boolean }) => {
      await withLibrary(options.library, async (library) => {
        const invites = await readInvites(library);
        const now = Date.now();
        if (options.json) {
          printJson(
            invites.map((invite) => ({
              inviteId: invite.inviteId,
              address: invite.address,
              createdAtMs: invite.createdAtMs,
              expiresAtMs: invite.expiresAtMs,
              usedAtMs: invite.used?.atMs,
              usedBy: invite.used?.by,
              revokedAtMs: invite.revokedAtMs,
              status: inviteStatus(invite, now).split(' ')[0],
            })),
          );
          return;
        }
        if (invites.length === 0) {
          process.stdout.write('no invites issued by this device (`tidemark invite` makes one)\n');
          return;
        }
        process.stdout.write(
          formatTable(
            ['invite', 'created', 'expires', 'status', 'used by'],
            invites.map((invite) => [
              invite.inviteId,
              formatTime(invite.createdAtMs),
              formatTime(invite.expiresAtMs),
              inviteStatus(invite, now),
              invite.used?.by ?? '-',
            ]),
          ) + '\n',
        );
      });
    });

  invite
    .command('revoke')
    .description('void an unused invite: a joiner presenting it is refused')
    .requiredOption('--library <dir>', 'library directory')
    .argument('<invite-id>', 'the invite id (UUID) shown by `tidemark invite list`')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
A used invite cannot be revoked: remove the device it admitted with \`tidemark peer remove\`.

Example:
  $ tidemark invite revoke --library ~/tidemark/laptop 3f1c2b9e-7d4a-4c1e-9b2f-5a6d7e8f9012`,
    )
    .action(async (inviteId: string, options: { library: string; json?: boolean }) => {
      if (!isUuid(inviteId)) {
        throw new TidemarkError(
          'INVALID_ARGUMENT',
          `invite id "${inviteId}" must be a lowercase hyphenated UUID`,
        );
      }
      await withLibrary(options.library, async (library) => {
        const revoked = await revokeInvite(library, inviteId);
        if (options.json) printJson({ inviteId, revoked, alreadyRevoked: !revoked });
        else
          process.stdout.write(
            revoked ? `revoked invite ${inviteId}\n` : `invite ${inviteId} was already revoked\n`,
          );
      });
    });
}
