import { Library, TidemarkError } from '@tidemark/engine';
import { decodeInvite, DeviceCredentials, joinLibrary, loadDeviceCredentials } from '@tidemark/node';
import { Command } from 'commander';
import * as os from 'node:os';
import * as path from 'node:path';
import { createDeviceLibrary } from '../device-library';
import { readInviteText } from '../invite-input';
import { databaseUrl, libraryExistsIn, libraryFile, libraryLabel } from '../options';
import { printJson } from '../output';

/** The library in DIR, created for the invite's library when it does not exist yet. */
async function openOrCreate(
  dir: string,
  libraryId: string,
  deviceName: string,
  database: string | undefined,
): Promise<{ library: Library; credentials: DeviceCredentials; created: boolean }> {
  if (!libraryExistsIn(dir)) {
    return {
      ...(await createDeviceLibrary(dir, { libraryId, deviceName, databaseUrl: database })),
      created: true,
    };
  }
  if (database !== undefined) {
    throw new TidemarkError(
      'ALREADY_EXISTS',
      `${path.resolve(dir)} already holds a library; --database only makes a new hub library (leave it out to join with this one)`,
    );
  }
  const library = await Library.open(libraryFile(dir));
  try {
    return {
      library,
      credentials: loadDeviceCredentials(path.resolve(dir), library.identity.deviceId),
      created: false,
    };
  } catch (error) {
    await library.close();
    throw error;
  }
}

export function registerJoin(program: Command): void {
  program
    .command('join')
    .description('join a library with an invite: exchange certificates with the inviting device')
    .requiredOption('--library <dir>', 'library directory (created when it does not exist)')
    .argument(
      '[invite]',
      'the string printed by `tidemark invite` on the other device; "-" or nothing reads it from standard input',
    )
    .option('--invite-file <file>', 'read the invite from FILE ("-" for standard input)')
    .option('--name <name>', 'name of this device shown to the others (default: the host name)')
    .option(
      '--database <url>',
      "create DIR as a hub library in this PostgreSQL database (postgres://...), a member of the invite's library",
      databaseUrl,
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The inviting device must be running \`tidemark node\` (without --insecure) at the address in the
invite. The connection is TLS pinned to the inviter's certificate fingerprint from the invite,
so nobody in between can take its place.

The invite holds a secret: pass it on standard input or in a file rather than as an argument,
which stays in the shell's history and is visible to other users in \`ps\`.

A device that is already a member can join again (with another member, say): the inviter adds
no one and leaves the invite unused, and says so.

A join that fails leaves in DIR what it had made (the database, the device key and certificate):
a join refused for its invite can be tried again into DIR with a new one. (Into PostgreSQL, a
failed hub join leaves its tables in the schema: join into another with ?schema=NAME, or drop them.)

Examples:
  $ tidemark join --library ~/tidemark/desktop --invite-file invite.txt
  $ tidemark join --library ~/tidemark/desktop          (then paste the invite and press Enter)
  $ tidemark node --library ~/tidemark/desktop --listen 0.0.0.0:7401 --peer 192.168.1.20:7400`,
    )
    .action(
      async (
        argument: string | undefined,
        options: { library: string; inviteFile?: string; name?: string; database?: string; json?: boolean },
      ) => {
        const invite = decodeInvite(await readInviteText(argument, options.inviteFile));
        const deviceName = options.name ?? os.hostname();
        const { library, credentials, created } = await openOrCreate(
          options.library,
          invite.libraryId,
          deviceName,
          options.database,
        );
        try {
          const { inviter, members, rootDeviceId, alreadyMember } = await joinLibrary(
            library,
            invite,
            credentials,
            deviceName,
          );
          const { libraryId, deviceId } = library.identity;
          if (options.json) {
            printJson({
              libraryId,
              deviceId,
              created,
              inviter: inviter.deviceId,
              rootDeviceId,
              address: invite.address,
              members: members.length,
              alreadyMember,
            });
          } else {
            process.stdout.write(
              `${created ? 'created' : 'opened'} ${libraryLabel(options.library)} as device ${deviceId}\n` +
                `paired with ${inviter.deviceId}${inviter.name ? ` (${inviter.name})` : ''} at ${invite.address}` +
                (members.length ? `; it vouched for ${members.length} more member(s)` : '') +
                `\nstart syncing: tidemark node --library ${options.library} --listen HOST:PORT --peer ${invite.address}\n` +
                (alreadyMember
                  ? `this device was already a member: nobody was added and the invite was left unused` +
                    ` (joining again does not rename a device: \`tidemark peer rename\` on another member does)\n`
                  : ''),
            );
          }
        } finally {
          await library.close();
        }
      },
    );
}
