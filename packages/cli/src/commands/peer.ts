import { isUuid, readActiveMembers, readMembers, removeMember, TidemarkError } from '@tidemark/engine';
import { Command } from 'commander';
import { formatTable, formatTime, printJson } from '../output';
import { withLibrary } from '../with-library';

export function registerPeer(program: Command): void {
  const peer = program
    .command('peer')
    .description('list and remove the devices this device trusts (library members)')
    .addHelpText(
      'after',
      `
Devices become members by pairing (\`tidemark invite\` on one, \`tidemark join\` on the other).

Examples:
  $ tidemark peer list --library ~/tidemark/laptop
  $ tidemark peer remove --library ~/tidemark/laptop 8d2f0a4e-1c3b-8a5d-9e7f-0123456789ab`,
    );

  peer
    .command('list')
    .description('list the members of the library known to this device')
    .requiredOption('--library <dir>', 'library directory')
    .option('--all', 'include removed members')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  $ tidemark peer list --library ~/tidemark/laptop')
    .action(async (options: { library: string; all?: boolean; json?: boolean }) => {
      await withLibrary(options.library, async (library) => {
        const members = options.all ? await readMembers(library) : await readActiveMembers(library);
        if (options.json) {
          printJson(
            members.map(({ certificatePem: _pem, ...member }) => ({
              ...member,
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
            ['device', 'name', 'fingerprint', 'added', 'status'],
            members.map((member) => [
              member.deviceId,
              member.name || '-',
              member.fingerprint.slice(0, 16) + '…',
              formatTime(member.addedAtMs),
              member.removedAtMs === undefined ? 'member' : `removed ${formatTime(member.removedAtMs)}`,
            ]),
          ) + '\n',
        );
      });
    });

  peer
    .command('remove')
    .description(
      'stop trusting a device: its connections are refused, and cut off within seconds by a running node',
    )
    .requiredOption('--library <dir>', 'library directory')
    .argument('<device>', 'device id (UUID) of the member to remove')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
A running \`tidemark node\` of this library re-reads the members every second: it ends the
removed device's open streams and refuses its new connections. Rows it wrote stay; new rows of
a removed device are refused from any peer.

Example:
  $ tidemark peer remove --library ~/tidemark/laptop 8d2f0a4e-1c3b-8a5d-9e7f-0123456789ab`,
    )
    .action(async (device: string, options: { library: string; json?: boolean }) => {
      if (!isUuid(device))
        throw new TidemarkError('INVALID_ARGUMENT', `device "${device}" must be a lowercase hyphenated UUID`);
      await withLibrary(options.library, async (library) => {
        const removed = await removeMember(library, device);
        if (!removed) {
          throw new TidemarkError(
            'NOT_FOUND',
            `device ${device} is not a current member (see \`tidemark peer list\`)`,
          );
        }
        if (options.json) printJson({ removed: device });
        else process.stdout.write(`removed ${device}; running nodes cut it off within seconds\n`);
      });
    });
}
