import { resetWatermarks, syncFromPeer$ } from '@tidemark/engine';
import { ProtocolVersion } from '@tidemark/proto';
import { Command } from 'commander';
import { lastValueFrom, tap } from 'rxjs';
import { compareWithPeer } from '../compare-digests';
import { EXIT } from '../exit-codes';
import { printJson } from '../output';
import { createProgressReporter } from '../progress';
import { PeerCommandOptions, peerCommand, withPeer } from '../peer-transport';

export function registerRepair(program: Command): void {
  peerCommand(
    program
      .command('repair')
      .description('re-sync, from zero, the resource types whose digests differ from a peer'),
    'the peer to repair from',
    true,
  )
    .addHelpText(
      'after',
      `
Apply is idempotent, so a re-sync from zero rewrites nothing that is already right: it costs
transfer, not writes. Exit 0 when every type is equal afterwards, 1 when some still differ
(this device holds rows the peer lacks: repair the peer from this device).

Example:
  $ tidemark repair --library ~/tidemark/desktop --peer 127.0.0.1:7400 --insecure`,
    )
    .action(async (options: PeerCommandOptions & { batchSize: number }) => {
      process.exitCode = await withPeer(options, async (library, transport) => {
        const before = await compareWithPeer(library, transport);
        const differing = before.filter((t) => !t.equal).map((t) => t.resourceType);
        if (differing.length) {
          const handshake = await transport.handshake({
            libraryId: library.identity.libraryId,
            deviceId: library.identity.deviceId,
            epoch: library.identity.epoch,
            protocolVersion: ProtocolVersion.PROTOCOL_VERSION_1,
            heads: [],
            sentAtMs: Date.now(),
          });
          await resetWatermarks(library, handshake.deviceId, differing);
          const progress = createProgressReporter({ json: !!options.json, tty: !!process.stderr.isTTY });
          await lastValueFrom(
            syncFromPeer$(library, transport, { types: differing, batchSize: options.batchSize }).pipe(
              tap((event) => {
                progress.onSync(event);
                if (event.kind === 'type_failed') throw event.error;
              }),
            ),
            { defaultValue: undefined },
          ).finally(() => progress.stop());
        }
        const after = differing.length ? await compareWithPeer(library, transport) : before;
        const still = after.filter((t) => !t.equal).map((t) => t.resourceType);
        if (options.json) printJson({ peer: options.peer, repaired: differing, stillDifferent: still });
        else if (!differing.length) process.stdout.write('nothing to repair: every resource type is equal\n');
        else {
          process.stdout.write(`re-synced from zero: ${differing.join(', ')}\n`);
          process.stdout.write(
            still.length
              ? `still different: ${still.join(', ')} (this device holds rows the peer lacks; repair the peer from here)\n`
              : 'repaired: every resource type is equal\n',
          );
        }
        return still.length ? EXIT.DIFFERENT : EXIT.OK;
      });
    });
}
