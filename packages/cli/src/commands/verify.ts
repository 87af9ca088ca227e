import { Command } from 'commander';
import { compareWithPeer, recordDigestChecks } from '@tidemark/engine';
import { EXIT } from '../exit-codes';
import { formatCount, formatTable, printJson } from '../output';
import { handshakeWith, PeerCommandOptions, peerCommand, withPeer } from '../peer-transport';

export function registerVerify(program: Command): void {
  peerCommand(
    program
      .command('verify')
      .description('compare per-type digests with a peer; exit 0 when equal, 1 when not'),
    'the peer to compare with',
    false,
  )
    .addHelpText(
      'after',
      `
Rows last written by this device are left out on both sides: the peer may not have pulled them yet.

Example:
  $ tidemark verify --library ~/tidemark/desktop --peer 127.0.0.1:7400 --insecure`,
    )
    .action(async (options: PeerCommandOptions) => {
      process.exitCode = await withPeer(options, async (library, transport) => {
        const handshake = await handshakeWith(library, transport);
        const results = await compareWithPeer(library, transport);
        // The newest comparison with this peer, for doctor (as the node's anti-entropy stores its own).
        await recordDigestChecks(library, handshake.deviceId, results);
        const differing = results.filter((r) => !r.equal).map((r) => r.resourceType);
        if (options.json)
          printJson({ peer: options.peer, equal: differing.length === 0, differing, types: results });
        else {
          process.stdout.write(
            formatTable(
              ['resource', 'local rows', 'peer rows', 'local tombstones', 'peer tombstones', 'digest'],
              results.map((r) => [
                r.resourceType,
                formatCount(r.local.rows),
                formatCount(r.peer.rows),
                formatCount(r.local.tombstones),
                formatCount(r.peer.tombstones),
                r.equal ? 'equal' : 'DIFFERENT',
              ]),
            ) + '\n',
          );
          process.stdout.write(
            differing.length
              ? `different: ${differing.join(', ')}\n`
              : 'verified: every resource type is equal\n',
          );
        }
        return differing.length ? EXIT.DIFFERENT : EXIT.OK;
      });
    });
}
