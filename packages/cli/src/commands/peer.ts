import {
  isUuid,
  Library,
  Member,
  readActiveMembers,
  readLibraryRoot,
  readMembers,
  readMembershipChanges,
  MembershipSigner,
  signMemberRemove,
  signMemberRename,
  TidemarkError,
} from '@tidemark/engine';
import { bridgeLegacyMembers, deviceSigner, loadDeviceCredentials } from '@tidemark/node';
import { Command } from 'commander';
import * as path from 'node:path';
import { formatStampTime, formatTable, printJson } from '../output';
import { withLibrary } from '../with-library';

/** Who vouched for a member, by name when this device knows it. */
function addedByOf(member: Member, byId: ReadonlyMap<string, Member>, self: string): string {
  if (member.addedBy === member.deviceId) return 'itself (founder)';
  if (member.addedBy === self) return 'this device';
  const name = byId.get(member.addedBy)?.name;
  return name ? `${name} (${member.addedBy.slice(0, 8)})` : member.addedBy || '-';
}

/**
 * This device's membership signer. A library paired before signed membership first gets its
 * members as signed changes (the same bridge a node runs at start).
 */
async function membershipSigner(library: Library, dir: string, device: string): Promise<MembershipSigner> {
  const credentials = loadDeviceCredentials(path.resolve(dir), library.identity.deviceId);
  await bridgeLegacyMembers(library, credentials);
  if ((await readMembershipChanges(library)).length === 0) {
    throw new TidemarkError(
      'NOT_FOUND',
      `device ${device} is not a current member (see \`tidemark peer list\`)` +
        ((await readLibraryRoot(library)) !== ''
          ? '; this device has not received the membership yet: run its node or `tidemark sync` first'
          : ''),
    );
  }
  return deviceSigner(credentials);
}

/** The device argument of `remove` and `rename`, checked before the library is opened. */
function checkDeviceArgument(device: string): void {
  if (!isUuid(device))
    throw new TidemarkError('INVALID_ARGUMENT', `device "${device}" must be a lowercase hyphenated UUID`);
}

/** A membership change is about another device: one never signs one about itself. */
function checkOtherDevice(library: Library, device: string, verb: string): void {
  if (device === library.identity.deviceId) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `a device cannot ${verb} itself; ${verb} it from another member`,
    );
  }
}

const notAMember = (device: string) =>
  new TidemarkError('NOT_FOUND', `device ${device} is not a current member (see \`tidemark peer list\`)`);

/** Removes a member with a REMOVE signed by this device, which reaches every member by sync. */
async function removeSigned(library: Library, dir: string, device: string): Promise<boolean> {
  return signMemberRemove(library, await membershipSigner(library, dir, device), device);
}

export function registerPeer(program: Command): void {
  const peer = program
    .command('peer')
    .description('list, rename and remove the devices this device trusts (library members)')
    .addHelpText(
      'after',
      `
Devices become members by pairing (\`tidemark invite\` on one, \`tidemark join\` on the other).

Examples:
  $ tidemark peer list --library ~/tidemark/laptop
  $ tidemark peer rename --library ~/tidemark/laptop 8d2f0a4e-1c3b-8a5d-9e7f-0123456789ab nas
  $ tidemark peer remove --library ~/tidemark/laptop 8d2f0a4e-1c3b-8a5d-9e7f-0123456789ab`,
    );

  peer
    .command('list')
    .description('list the members of the library known to this device, and who added (or removed) them')
    .requiredOption('--library <dir>', 'library directory')
    .option('--all', 'include removed members')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  $ tidemark peer list --library ~/tidemark/laptop')
    .action(async (options: { library: string; all?: boolean; json?: boolean }) => {
      await withLibrary(options.library, async (library) => {
        const members = options.all ? await readMembers(library) : await readActiveMembers(library);
        const self = library.identity.deviceId;
        const byId = new Map((await readMembers(library)).map((member) => [member.deviceId, member]));
        if (options.json) {
          printJson(
            members.map(({ certificatePem: _pem, ...member }) => ({
              ...member,
              self: member.deviceId === self,
              removed: member.removedAtMs !== undefined,
            })),
          );
          return;
        }
        if (members.length === 0) {
          process.stdout.write('no paired devices (pair with `tidemark invite` and `tidemark join`)\n');
          return;
        }
        process.stdout.write(
          formatTable(
            ['device', 'name', 'fingerprint', 'added', 'added by', 'status'],
            members.map((member) => [
              member.deviceId,
              member.name || '-',
              member.fingerprint.slice(0, 16) + '…',
              formatStampTime(member.addedAtMs),
              addedByOf(member, byId, self),
              member.removedAtMs !== undefined
                ? `removed ${formatStampTime(member.removedAtMs)}`
                : member.deviceId === self
                  ? 'member (this device)'
                  : 'member',
            ]),
          ) + '\n',
        );
      });
    });

  peer
    .command('remove')
    .description(
      'remove a device from the library for good: every member refuses it once the removal reaches it',
    )
    .requiredOption('--library <dir>', 'library directory')
    .argument('<device>', 'device id (UUID) of the member to remove')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The removal is a membership change signed with this device's key (DIR/device-key.pem). It
reaches every member by sync, and each running \`tidemark node\` then ends the removed device's
open streams and refuses its connections within seconds. Rows it wrote before its removal stay
everywhere; rows it writes after are refused by every member that knows. Removal is final: the
device can come back only with a new identity (a new library directory) and a new invite. Invites
the removed device issued are void.

Example:
  $ tidemark peer remove --library ~/tidemark/laptop 8d2f0a4e-1c3b-8a5d-9e7f-0123456789ab`,
    )
    .action(async (device: string, options: { library: string; json?: boolean }) => {
      checkDeviceArgument(device);
      await withLibrary(options.library, async (library) => {
        checkOtherDevice(library, device, 'remove');
        const removed = await removeSigned(library, options.library, device).catch((error: unknown) => {
          // A device never admitted is "not a member" to a person, whatever the engine calls it.
          if (error instanceof TidemarkError && error.code === 'NOT_FOUND') return false;
          throw error;
        });
        if (!removed) throw notAMember(device);
        if (options.json) printJson({ removed: device });
        else process.stdout.write(`removed ${device}; running nodes cut it off within seconds\n`);
      });
    });

  peer
    .command('rename')
    .description('change the name every member shows for another device')
    .requiredOption('--library <dir>', 'library directory')
    .argument('<device>', 'device id (UUID) of the member to rename')
    .argument('<name>', 'its new name')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The new name is a membership change signed with this device's key (DIR/device-key.pem), and
reaches every member by sync; when two members rename a device at once, every member keeps the
same one of the two names. A device's first name is the one it joined with (\`tidemark join
--name\`, by default its host name; the founder's is its host name). A device cannot rename
itself: another member does.

Example:
  $ tidemark peer rename --library ~/tidemark/laptop 8d2f0a4e-1c3b-8a5d-9e7f-0123456789ab nas`,
    )
    .action(async (device: string, name: string, options: { library: string; json?: boolean }) => {
      checkDeviceArgument(device);
      // Spaces around a name typed at a shell are a slip, not part of the name.
      const newName = name.trim();
      if (newName === '') throw new TidemarkError('INVALID_ARGUMENT', 'the new name must not be empty');
      await withLibrary(options.library, async (library) => {
        checkOtherDevice(library, device, 'rename');
        // A removed device stays removed: its name is history, not something to keep current.
        if (!(await readActiveMembers(library)).some((member) => member.deviceId === device)) {
          throw notAMember(device);
        }
        const signer = await membershipSigner(library, options.library, device);
        await signMemberRename(library, signer, device, newName).catch((error: unknown) => {
          if (error instanceof TidemarkError && error.code === 'NOT_FOUND') throw notAMember(device);
          throw error;
        });
        if (options.json) printJson({ renamed: device, name: newName });
        else
          process.stdout.write(`renamed ${device} to "${newName}"; the name reaches every member by sync\n`);
      });
    });
}
