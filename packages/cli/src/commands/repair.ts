import {
  compareWithPeer,
  forgetSkippedOwnRows,
  recordDigestChecks,
  ResourceName,
  resetWatermarks,
  syncFromPeer$,
} from '@tidemark/engine';
import { Command } from 'commander';
import { lastValueFrom, tap } from 'rxjs';
import { EXIT } from '../exit-codes';
import { formatCount, printJson } from '../output';
import { createProgressReporter } from '../progress';
import { handshakeWith, PeerCommandOptions, peerCommand, withPeer } from '../peer-transport';

export function registerRepair(program: Command): void {
  peerCommand(
    program
      .command('repair')
      .description('re-sync, from zero, the resource types whose digests differ from a peer'),
    'the peer to repair from',
    true,
  )
    .option(
      '--adopt-own',
      "also take back this device's own rows that the peer holds and this device does not (after a restore)",
    )
    .addHelpText(
      'after',
      `
Apply is idempotent, so a re-sync from zero rewrites nothing that is already right: it costs
transfer, not writes. Exit 0 when every type is equal afterwards, 1 when some still differ
(this device holds rows the peer lacks: repair the peer from this device).

A device never takes rows written in its own name that it does not hold: a peer could have
forged them. After this device was restored from a backup, its newer rows live only on its
peers, and \`tidemark doctor\` counts them as not taken. --adopt-own compares this device's own
rows too, and takes them back from this peer.

Examples:
  $ tidemark repair --library ~/tidemark/desktop --peer 127.0.0.1:7400 --insecure
  $ tidemark repair --library ~/tidemark/desktop --peer 192.168.1.20:7400 --adopt-own`,
    )
    .action(async (options: PeerCommandOptions & { batchSize: number; adoptOwn?: boolean }) => {
      const adoptOwn = options.adoptOwn === true;
      process.exitCode = await withPeer(options, async (library, transport) => {
        const handshake = await handshakeWith(library, transport);
        const before = await compareWithPeer(library, transport, { includeOwn: adoptOwn });
        const differing = before.filter((t) => !t.equal).map((t) => t.resourceType);
        // Per type, rows in this device's own name that the re-sync did not take.
        const ownRowsSkipped = new Map<ResourceName, number>(differing.map((name) => [name, 0]));
        if (differing.length) {
          await resetWatermarks(library, handshake.deviceId, differing);
          const progress = createProgressReporter({ json: !!options.json, tty: !!process.stderr.isTTY });
          await lastValueFrom(
            syncFromPeer$(library, transport, {
              types: differing,
              batchSize: options.batchSize,
              adoptOwnRows: adoptOwn,
            }).pipe(
              tap((event) => {
                progress.onSync(event);
                if (event.kind === 'batch') {
                  ownRowsSkipped.set(
                    event.resourceType,
                    ownRowsSkipped.get(event.resourceType)! + event.ownRowsSkipped,
                  );
                }
                if (event.kind === 'type_failed') throw event.error;
              }),
            ),
            { defaultValue: undefined },
          ).finally(() => progress.stop());
        }
        // What doctor counted from this peer in this device's name is settled for a type re-synced
        // whole without a row left out, and (own rows compared) for a type equal to the peer's.
        const settled = before
          .filter((t) => (t.equal ? adoptOwn : ownRowsSkipped.get(t.resourceType) === 0))
          .map((t) => t.resourceType);
        await forgetSkippedOwnRows(library, handshake.deviceId, settled);
        const after = differing.length
          ? await compareWithPeer(library, transport, { includeOwn: adoptOwn })
          : before;
        // This comparison is newer than the node's: doctor reports it, not a difference repaired since.
        // With own rows compared, only an equal type says what the node's comparison (own rows left
        // out) would: a peer not yet holding this device's newest rows is no difference there.
        await recordDigestChecks(
          library,
          handshake.deviceId,
          adoptOwn ? after.filter((t) => t.equal) : after,
        );
        const still = after.filter((t) => !t.equal).map((t) => t.resourceType);
        const notTaken = [...ownRowsSkipped.values()].reduce((sum, rows) => sum + rows, 0);
        if (options.json) {
          printJson({
            peer: options.peer,
            repaired: differing,
            stillDifferent: still,
            ownRowsNotTaken: notTaken,
          });
        } else if (!differing.length)
          process.stdout.write('nothing to repair: every resource type is equal\n');
        else {
          process.stdout.write(`re-synced from zero: ${differing.join(', ')}\n`);
          if (notTaken > 0) {
            process.stdout.write(
              `not taken: ${formatCount(notTaken)} rows in this device's own name that it does not hold; ` +
                'if this device was restored from a backup, run again with --adopt-own\n',
            );
          }
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
