import {
  decodeHlc,
  inspectLibraryFile,
  Library,
  PeerHeadStore,
  RESOURCE_NAMES,
  ResourceWatermarkStore,
  resourceHeads,
  resourceNameOf,
} from '@tidemark/engine';
import { Command } from 'commander';
import * as fs from 'node:fs';
import { EXIT } from '../exit-codes';
import { libraryFile } from '../options';
import { formatCount, formatDuration, printJson } from '../output';

export interface Finding {
  readonly severity: 'ok' | 'info' | 'problem';
  readonly check: string;
  readonly message: string;
}

/** Clocks a little ahead are normal; this much ahead means a stamp came from a wrong clock. */
const FLOOR_AHEAD_TOLERANCE_MS = 60_000;

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check a library and explain in plain words what it finds; exit 1 on a problem')
    .requiredOption('--library <dir>', 'library directory')
    .option('--json', 'print the findings as JSON')
    .addHelpText(
      'after',
      `
Checks: database integrity, legacy global-watermark schema (migrated or not), peers behind per
resource type, watermarks ahead of the rows they claim, HLC floor ahead of the wall clock.

Example:
  $ tidemark doctor --library ~/tidemark/desktop`,
    )
    .action(async (options: { library: string; json?: boolean }) => {
      const findings = await diagnose(libraryFile(options.library));
      if (options.json)
        printJson({ problems: findings.filter((f) => f.severity === 'problem').length, findings });
      else {
        for (const finding of findings) {
          const mark =
            finding.severity === 'problem' ? 'PROBLEM' : finding.severity === 'info' ? 'note   ' : 'ok     ';
          process.stdout.write(`${mark}  ${finding.check}: ${finding.message}\n`);
        }
      }
      process.exitCode = findings.some((f) => f.severity === 'problem') ? EXIT.DIFFERENT : EXIT.OK;
    });
}

export async function diagnose(file: string): Promise<Finding[]> {
  const findings: Finding[] = [];
  if (!fs.existsSync(file)) {
    return [
      {
        severity: 'problem',
        check: 'library',
        message: `no library at ${file}; create one with tidemark init`,
      },
    ];
  }
  const shape = await inspectLibraryFile(file);
  if (shape.legacyUnmigrated) {
    return [
      {
        severity: 'problem',
        check: 'legacy schema',
        message:
          'this library uses the legacy global watermark (devices.last_state_watermark), which skips older ' +
          'volumes and locations after an interrupted backfill. Any tidemark command that opens it (e.g. ' +
          '`tidemark status`) migrates it to per-resource watermarks and restarts every peer from zero.',
      },
    ];
  }
  const library = await Library.open(file);
  try {
    const read = library.db.read;
    const [integrity] = await read.query<{ integrity_check: string }>('PRAGMA integrity_check');
    findings.push(
      integrity.integrity_check === 'ok'
        ? { severity: 'ok', check: 'integrity', message: 'SQLite integrity check passed' }
        : {
            severity: 'problem',
            check: 'integrity',
            message: `SQLite integrity check failed: ${integrity.integrity_check}`,
          },
    );

    const legacy = await read.query<{
      peer_device_id: string;
      legacy_state_watermark: string | null;
      migrated_at_ms: number;
    }>('SELECT peer_device_id, legacy_state_watermark, migrated_at_ms FROM legacy_watermark_migrations');
    const marks = await new ResourceWatermarkStore(read).all();
    for (const row of legacy) {
      const resynced = marks.filter((m) => m.peerDeviceId === row.peer_device_id && m.lastSeq > 0).length;
      findings.push({
        severity: 'info',
        check: 'legacy migration',
        message:
          `peer ${row.peer_device_id} had one global watermark (${row.legacy_state_watermark ?? 'none'}) that was ` +
          `dropped on ${new Date(row.migrated_at_ms).toISOString()}; every type restarted from zero ` +
          `(${resynced} of ${RESOURCE_NAMES.length} types re-synced since)`,
      });
    }

    const heads = await new PeerHeadStore(read).all();
    const held = await resourceHeads(read);
    for (const mark of marks) {
      const head = heads.find(
        (h) => h.peerDeviceId === mark.peerDeviceId && h.resourceType === mark.resourceType,
      );
      const local = held.find((h) => resourceNameOf(h.resourceType) === mark.resourceType)!;
      const where = `peer ${mark.peerDeviceId.slice(0, 8)} ${mark.resourceType}`;
      if (head && mark.lastSeq < head.headSeq) {
        findings.push({
          severity: 'problem',
          check: 'behind',
          message: `${where}: applied up to seq ${mark.lastSeq} of ${head.headSeq} at the last contact; run tidemark sync`,
        });
      }
      // A watermark that claims the peer's whole type while this device holds fewer rows of it
      // than the peer had is the seed note's symptom: rows skipped by a cursor that moved too far.
      if (head && mark.lastSeq >= head.headSeq && local.rowCount + local.tombstoneCount < head.rowCount) {
        findings.push({
          severity: 'problem',
          check: 'watermark ahead of data',
          message:
            `${where}: the watermark says caught up, but this device holds ${formatCount(local.rowCount)} rows ` +
            `and the peer had ${formatCount(head.rowCount)}; run tidemark repair against that peer`,
        });
      }
    }
    if (!findings.some((f) => f.check === 'behind' || f.check === 'watermark ahead of data')) {
      findings.push({
        severity: 'ok',
        check: 'watermarks',
        message: marks.length
          ? `${marks.length} per-resource watermarks, none behind its peer's last known head`
          : 'no peers yet',
      });
    }

    const [floorRow] = await read.query<{ hlc_floor: string }>(
      'SELECT hlc_floor FROM library_identity WHERE id = 1',
    );
    const aheadMs = decodeHlc(floorRow.hlc_floor).physicalMs - Date.now();
    findings.push(
      aheadMs > FLOOR_AHEAD_TOLERANCE_MS
        ? {
            severity: 'problem',
            check: 'clock',
            message:
              `the HLC floor is ${formatDuration(aheadMs / 1000)} ahead of this machine's clock: a stamp from a ` +
              'clock in the future was adopted, or this clock is behind; check the system time',
          }
        : { severity: 'ok', check: 'clock', message: 'the HLC floor is not ahead of the wall clock' },
    );
  } finally {
    await library.close();
  }
  return findings;
}
