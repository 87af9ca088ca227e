import { ResourceName, SyncEvent, syncFromPeer$, TidemarkError } from '@tidemark/engine';
import { Command } from 'commander';
import { lastValueFrom, tap } from 'rxjs';
import { formatCount, formatDuration, printJson } from '../output';
import { PeerCommandOptions, peerCommand, withPeer } from '../peer-transport';
import { createProgressReporter } from '../progress';

interface TypeSummary {
  resourceType: ResourceName;
  received: number;
  written: number;
  batches: number;
  watermarkSeq: number;
  rowsPerSecond: number;
}

export function registerSync(program: Command): void {
  peerCommand(
    program
      .command('sync')
      .description('pull from one peer until every resource type is caught up, then exit'),
    'the peer to pull from',
    true,
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ tidemark sync --library ~/tidemark/desktop --peer 127.0.0.1:7400 --insecure',
    )
    .action(async (options: PeerCommandOptions & { batchSize: number }) => {
      const progress = createProgressReporter({ json: !!options.json, tty: !!process.stderr.isTTY });
      const summary = new Map<ResourceName, TypeSummary>();
      const failures: { resourceType: ResourceName; error: string }[] = [];
      let peerDeviceId = '';
      let maxDriftMs = 0;
      const beyondDrift = { rows: 0, maxAheadMs: 0 };
      const skipped = { afterRemoval: 0, ownRows: 0 };
      const started = Date.now();
      try {
        await withPeer(options, (library, transport) =>
          lastValueFrom(
            syncFromPeer$(library, transport, { batchSize: options.batchSize }).pipe(
              tap((event: SyncEvent) => {
                progress.onSync(event);
                if (event.kind === 'connected') {
                  peerDeviceId = event.peerDeviceId;
                  maxDriftMs = event.maxDriftMs;
                }
                if (event.kind === 'type_failed')
                  failures.push({ resourceType: event.resourceType, error: event.error.message });
                if (event.kind === 'batch') {
                  beyondDrift.rows += event.beyondDrift;
                  beyondDrift.maxAheadMs = Math.max(beyondDrift.maxAheadMs, event.maxAheadMs);
                  skipped.afterRemoval += event.skippedAfterRemoval;
                  skipped.ownRows += event.ownRowsSkipped;
                  summary.set(event.resourceType, {
                    resourceType: event.resourceType,
                    received: event.totalReceived,
                    written: event.totalWritten,
                    batches: event.batches,
                    watermarkSeq: event.watermarkSeq,
                    rowsPerSecond: Math.round(event.rowsPerSecond),
                  });
                }
              }),
            ),
            { defaultValue: undefined },
          ),
        );
      } finally {
        progress.stop();
      }
      const seconds = (Date.now() - started) / 1000;
      const types = [...summary.values()];
      const received = types.reduce((sum, t) => sum + t.received, 0);
      if (options.json) {
        printJson({
          peer: options.peer,
          peerDeviceId,
          seconds,
          received,
          types,
          failures,
          beyondDrift: { ...beyondDrift, maxDriftMs },
          skipped,
        });
      } else {
        const from = `${options.peer} (device ${peerDeviceId})`;
        process.stdout.write(
          `synced from ${from}: ${formatCount(received)} rows and tombstones in ` +
            `${seconds.toFixed(1)} s (${formatCount(Math.round(received / Math.max(seconds, 0.001)))} rows/s)\n`,
        );
        if (beyondDrift.rows > 0) {
          process.stdout.write(
            `clock: ${formatCount(beyondDrift.rows)} rows from ${from} were stamped beyond the max drift ` +
              `(${formatDuration(maxDriftMs / 1000)}) ahead of this clock, the furthest ` +
              `${formatDuration(beyondDrift.maxAheadMs / 1000)} ahead; applied, adopted only up to the bound. ` +
              'A device clock is wrong: tidemark doctor names it\n',
          );
        }
        if (skipped.afterRemoval > 0) {
          process.stdout.write(
            `skipped: ${formatCount(skipped.afterRemoval)} rows written by removed members after their removal\n`,
          );
        }
        if (skipped.ownRows > 0) {
          process.stdout.write(
            `not taken: ${formatCount(skipped.ownRows)} rows in this device's own name that it does not hold; ` +
              'tidemark doctor says what to do\n',
          );
        }
      }
      if (failures.length) {
        throw new TidemarkError(
          'MALFORMED_BATCH',
          `rejected data for ${failures.map((f) => f.resourceType).join(', ')}: ${failures[0].error}`,
        );
      }
    });
}
