import {
  decodeHlc,
  readDeviceName,
  readPeerClocks,
  readPeerHeads,
  readResourceHeads,
  readRowCountsByOwner,
  readWatermarks,
  resourceNameOf,
} from '@tidemark/engine';
import { Command } from 'commander';
import { formatCount, formatDuration, formatOffset, formatTable, formatTime, printJson } from '../output';
import { withLibrary } from '../with-library';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show per-peer, per-resource watermarks and local row counts')
    .requiredOption('--library <dir>', 'library directory')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  $ tidemark status --library ~/tidemark/desktop')
    .action(async (options: { library: string; json?: boolean }) => {
      await withLibrary(options.library, async (library) => {
        const peerHeads = await readPeerHeads(library);
        const watermarks = (await readWatermarks(library)).map((mark) => {
          const head = peerHeads.find(
            (h) => h.peerDeviceId === mark.peerDeviceId && h.resourceType === mark.resourceType,
          );
          const lastAppliedHlcMs = mark.lastHlc ? decodeHlc(mark.lastHlc).physicalMs : undefined;
          const peerNewestMs = head?.maxHlc ? decodeHlc(head.maxHlc).physicalMs : undefined;
          return {
            peerDeviceId: mark.peerDeviceId,
            resourceType: mark.resourceType,
            peerEpoch: mark.peerEpoch,
            watermarkSeq: mark.lastSeq,
            // From the peer's last handshake (raised by every batch since): unknown before one.
            peerHeadSeq: head?.headSeq,
            caughtUp: head ? mark.lastSeq >= head.headSeq : undefined,
            lagSeconds:
              head === undefined
                ? undefined
                : mark.lastSeq >= head.headSeq
                  ? 0
                  : peerNewestMs !== undefined
                    ? Math.max(0, (peerNewestMs - (lastAppliedHlcMs ?? 0)) / 1000)
                    : undefined,
            lastAppliedHlcMs,
            updatedAtMs: mark.updatedAtMs,
          };
        });
        const counts = await readRowCountsByOwner(library);
        const heads = (await readResourceHeads(library)).map((head) => ({
          resourceType: resourceNameOf(head.resourceType),
          seq: head.seq,
          rows: head.rowCount,
          tombstones: head.tombstoneCount,
        }));
        const maxDriftMs = library.clock.maxDriftMs;
        const peerClocks = await Promise.all(
          (await readPeerClocks(library)).map(async (clock) => ({
            peerDeviceId: clock.peerDeviceId,
            peerName: await readDeviceName(library, clock.peerDeviceId),
            offsetMs: clock.offsetMs,
            roundTripMs: clock.roundTripMs,
            measuredAtMs: clock.measuredAtMs,
            beyondMaxDrift: Math.abs(clock.offsetMs) > maxDriftMs,
          })),
        );
        const { identity } = library;
        if (options.json) {
          printJson({ ...identity, watermarks, counts, heads, maxDriftMs, peerClocks });
          return;
        }
        process.stdout.write(
          `library ${identity.libraryId}\ndevice  ${identity.deviceId}\nepoch   ${identity.epoch}\n\n` +
            'resource_watermarks (what this device has applied from each peer):\n' +
            (watermarks.length
              ? formatTable(
                  [
                    'peer device',
                    'resource',
                    'peer epoch',
                    'watermark',
                    'peer head',
                    'last applied (HLC)',
                    'lag',
                  ],
                  watermarks.map((m) => [
                    m.peerDeviceId,
                    m.resourceType,
                    m.peerEpoch ? m.peerEpoch.slice(0, 8) : '-',
                    String(m.watermarkSeq),
                    m.peerHeadSeq === undefined ? '?' : String(m.peerHeadSeq),
                    formatTime(m.lastAppliedHlcMs),
                    m.caughtUp
                      ? 'caught up'
                      : m.lagSeconds === undefined
                        ? '?'
                        : formatDuration(m.lagSeconds),
                  ]),
                )
              : '  (none: this device has not synced from a peer yet)') +
            `\n\npeer clocks (the peer's clock minus this device's, at the last handshake; max drift ${formatDuration(maxDriftMs / 1000)}):\n` +
            (peerClocks.length
              ? formatTable(
                  ['peer device', 'name', 'offset', 'error', 'measured', ''],
                  peerClocks.map((c) => [
                    c.peerDeviceId,
                    c.peerName || '-',
                    formatOffset(c.offsetMs),
                    c.roundTripMs === undefined ? 'one way' : `±${formatDuration(c.roundTripMs / 2000)}`,
                    formatTime(c.measuredAtMs),
                    c.beyondMaxDrift ? 'BEYOND MAX DRIFT' : '',
                  ]),
                )
              : '  (none measured yet)') +
            '\n\nlocal rows per resource type and owner device:\n' +
            formatTable(
              ['resource', 'owner device', 'rows'],
              counts.filter((c) => c.rows > 0).map((c) => [c.resourceType, c.owner, formatCount(c.rows)]),
            ) +
            '\n',
        );
      });
    });
}
