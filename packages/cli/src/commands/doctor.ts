import {
  checkLibraryHealth,
  HealthFinding,
  inspectLibraryFile,
  Library,
  RESOURCE_NAMES,
  TidemarkError,
} from '@tidemark/engine';
import { Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../exit-codes';
import { databaseLocator, isHubLibrary, libraryExistsIn, libraryFile } from '../options';
import { formatCount, formatDuration, formatOffset, printable, printJson } from '../output';

export interface Finding {
  readonly severity: 'ok' | 'info' | 'problem';
  readonly check: string;
  readonly message: string;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'check a library and explain in plain words what it finds; exit 1 on a problem, 3 when DIR holds no library',
    )
    .requiredOption('--library <dir>', 'library directory')
    .option('--json', 'print the findings as JSON')
    .addHelpText(
      'after',
      `
Checks: database integrity, this device removed from the library (once the removal reached it),
legacy global-watermark schema (migrated or not), peers behind per resource type, watermarks
ahead of the rows they claim, rows skipped per peer, type and origin (written by a removed member
after its removal; in this device's own name but not held here, which \`tidemark repair
--adopt-own\` takes back after a restore), HLC floor ahead of the wall clock, peers' clocks (or
this one) off by more than the max drift, as measured at their last handshake, and tag
assignments left naming a deleted tag.

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
          process.stdout.write(`${mark}  ${finding.check}: ${printable(finding.message)}\n`);
        }
      }
      process.exitCode = findings.some((f) => f.severity === 'problem') ? EXIT.DIFFERENT : EXIT.OK;
    });
}

export async function diagnose(file: string): Promise<Finding[]> {
  const dir = path.dirname(file);
  // Like every other command: a missing library is exit 3 ("not there"), not a problem found in one (1).
  if (!libraryExistsIn(dir)) {
    throw new TidemarkError('NOT_FOUND', `no library at ${file}; create one with \`tidemark init\``);
  }
  if (isHubLibrary(dir)) {
    const library = await Library.open(file);
    try {
      const findings = (await checkLibraryHealth(library)).map(describe);
      return [
        ...hubFileModeFindings(dir),
        // The engine runs SQLite's integrity check only on SQLite; say what a hub relies on.
        ...findings.map((finding) =>
          finding.check === 'integrity'
            ? {
                severity: 'info' as const,
                check: 'integrity',
                message:
                  'not checked here: PostgreSQL verifies its own pages (with data checksums on, `initdb --data-checksums`); use pg_amcheck for a full check',
              }
            : finding,
        ),
      ];
    } finally {
      await library.close();
    }
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
    return [...fileModeFindings(file), ...(await checkLibraryHealth(library)).map(describe)];
  } finally {
    await library.close();
  }
}

/** A health finding of the engine in the words of this command. */
function describe(finding: HealthFinding): Finding {
  const { severity } = finding;
  switch (finding.kind) {
    case 'integrity':
      return {
        severity,
        check: 'integrity',
        message:
          finding.severity === 'ok'
            ? 'SQLite integrity check passed'
            : `SQLite integrity check failed: ${finding.result}`,
      };
    case 'malformed_stamps':
      return {
        severity,
        check: 'stamps',
        message:
          `${formatCount(finding.rows)} ${finding.resourceType} row(s) and ${formatCount(finding.tombstones)} tombstone(s) ` +
          'hold an HLC stamp that is not 16 hex digits (written outside tidemark): status, verify, sync and the node ' +
          'fail on them, and the checks after this one were not run; restore this library from a backup, or delete ' +
          'those rows and run tidemark repair --peer against a peer that holds them',
      };
    case 'removed_device': {
      if (finding.voided) {
        return {
          severity,
          check: 'membership',
          message:
            'this device was never a member: every change that added it was signed by a device that was not a ' +
            'member at the time, so every member refuses it; a current member can add it with a new invite ' +
            '(`tidemark invite` there, `tidemark join` here)',
        };
      }
      const by = finding.removedBy
        ? ` by ${finding.removedByName ? `"${finding.removedByName}" ` : ''}${finding.removedBy}`
        : '';
      return {
        severity,
        check: 'membership',
        message:
          `this device was removed from the library${by} on ${new Date(finding.removedAtMs).toISOString()}; ` +
          'every member refuses it, and removal is final: to come back it needs a new identity, a `tidemark join` ' +
          'with a new invite into a new library directory (for a hub, also a new database schema); this ' +
          'directory keeps what it holds',
      };
    }
    case 'legacy_migration':
      return {
        severity,
        check: 'legacy migration',
        message:
          `peer ${finding.peerDeviceId} had one global watermark (${finding.legacyStateWatermark ?? 'none'}) that was ` +
          `dropped on ${new Date(finding.migratedAtMs).toISOString()}; every type restarted from zero ` +
          `(${finding.resyncedTypes} of ${RESOURCE_NAMES.length} types re-synced since)`,
      };
    case 'behind':
      return {
        severity,
        check: 'behind',
        message: `${where(finding)}: applied up to seq ${finding.appliedSeq} of ${finding.peerHeadSeq} at the last contact; run tidemark sync`,
      };
    case 'watermark_ahead_of_data':
      return {
        severity,
        check: 'watermark ahead of data',
        message:
          `${where(finding)}: the watermark says caught up, but this device holds ${formatCount(finding.heldRows)} rows ` +
          `and the peer had ${formatCount(finding.peerRows)}; run tidemark repair against that peer`,
      };
    case 'skipped_rows': {
      const rows = `${formatCount(finding.rows)} ${finding.resourceType} row${finding.rows === 1 ? '' : 's'}`;
      const peer = `peer ${finding.peerDeviceId}`;
      const last = new Date(finding.lastAtMs).toISOString();
      return finding.reason === 'own_identity'
        ? {
            severity,
            check: "rows in this device's name",
            message:
              `${rows} written in this device's own name, sent by ${peer}, were not taken (this device does not ` +
              `hold them; last ${last}). Restored from a backup? Run tidemark repair --adopt-own against that ` +
              `peer. If not, that peer holds rows forged in this device's name`,
          }
        : {
            severity,
            check: 'rows after removal',
            message:
              `${rows} written by removed device ${finding.originDeviceId || '(not recorded)'} after its removal, ` +
              `sent by ${peer}, were skipped (last ${last}): not library history, nothing to do`,
          };
    }
    case 'watermarks':
      return {
        severity,
        check: 'watermarks',
        message: finding.watermarks
          ? `${finding.watermarks} per-resource watermarks, none behind its peer's last known head`
          : 'no peers yet',
      };
    case 'clock':
      return finding.severity === 'problem'
        ? {
            severity,
            check: 'clock',
            message:
              `the HLC floor is ${formatDuration(finding.floorAheadMs / 1000)} ahead of this machine's clock: a stamp from a ` +
              'clock in the future was adopted, or this clock is behind; check the system time',
          }
        : { severity, check: 'clock', message: 'the HLC floor is not ahead of the wall clock' };
    case 'peer_clock':
      return {
        severity,
        check: 'peer clock',
        message:
          `device ${finding.peerName ? `"${finding.peerName}" ` : ''}${finding.peerDeviceId} has a clock ` +
          `${formatOffset(finding.offsetMs)} of this device's (max drift ${formatDuration(finding.maxDriftMs / 1000)}; ` +
          `measured ${finding.roundTripMs === undefined ? 'one way' : `to ±${formatDuration(finding.roundTripMs / 2000)}`} ` +
          `at ${new Date(finding.measuredAtMs).toISOString()}). Its rows still sync, but its edits win or lose ` +
          "by the wrong time: set that device's clock (enable NTP there)",
      };
    case 'own_clock':
      return {
        severity,
        check: 'clock',
        message:
          `this device's clock is ${formatOffset(finding.aheadMs)} of all ${finding.peers} peers it has measured ` +
          `(max drift ${formatDuration(finding.maxDriftMs / 1000)}): this clock is the likely wrong one; check this machine's time (NTP)`,
      };
    case 'digest_mismatch':
      return {
        severity,
        check: 'digest',
        message:
          `${where(finding)} differs from this device's (${formatCount(finding.localCount)} rows and tombstones here, ` +
          `${formatCount(finding.peerCount)} there, this device's own left out; compared at ` +
          `${new Date(finding.checkedAtMs).toISOString()}): run tidemark repair --peer against that peer; ` +
          'if that device was restored from a backup, run tidemark repair --adopt-own there to take back the rows it lost',
      };
    case 'digest_checks':
      return {
        severity,
        check: 'digests',
        message: `every type equal to each of ${finding.peers} peer${finding.peers === 1 ? '' : 's'} at the newest comparison (node, verify or repair)`,
      };
    case 'peer_clocks':
      return {
        severity,
        check: 'peer clocks',
        message: `${finding.peers} peer clock${finding.peers === 1 ? '' : 's'} within the max drift (${formatDuration(finding.maxDriftMs / 1000)}) of this one`,
      };
    case 'deleted_tag_assignments':
      return {
        severity,
        check: 'tags',
        message:
          `${formatCount(finding.assignments)} tag assignment(s) name a deleted tag (removed on one device while ` +
          'another assigned it): hidden, and kept on every device; `tidemark tag prune` deletes them everywhere',
      };
  }
}

function where(finding: { readonly peerDeviceId: string; readonly resourceType: string }): string {
  return `peer ${finding.peerDeviceId.slice(0, 8)} ${finding.resourceType}`;
}

/**
 * A hub's directory should be 0700 and its database.json 0600: the URL in it may hold the
 * database password. (The rows are in PostgreSQL, whose own access rules protect them.)
 */
export function hubFileModeFindings(dir: string): Finding[] {
  return modeFindings(
    [
      { target: dir, expected: 0o700 },
      { target: databaseLocator(dir), expected: 0o600 },
    ],
    'the hub directory and its database.json are private to this user',
  );
}

/**
 * The library directory should be 0700 and the database, its WAL and shared-memory files 0600:
 * they hold every path and name of the library. Wider modes are a warning, not a failure.
 */
export function fileModeFindings(file: string): Finding[] {
  const dir = path.dirname(file);
  return modeFindings(
    [
      { target: dir, expected: 0o700 },
      ...[file, `${file}-wal`, `${file}-shm`].map((target) => ({ target, expected: 0o600 })),
    ],
    'the library directory and database are private to this user',
  );
}

function modeFindings(
  targets: readonly { readonly target: string; readonly expected: number }[],
  privateMessage: string,
): Finding[] {
  if (process.platform === 'win32') return [];
  const wide = targets.flatMap(({ target, expected }) => {
    if (!fs.existsSync(target)) return [];
    const mode = fs.statSync(target).mode & 0o777;
    return mode & 0o077
      ? [`${target} is ${mode.toString(8).padStart(4, '0')} (run: chmod ${expected.toString(8)} ${target})`]
      : [];
  });
  if (!wide.length) {
    return [
      {
        severity: 'ok',
        check: 'file modes',
        message: privateMessage,
      },
    ];
  }
  return [
    {
      severity: 'info',
      check: 'file modes',
      message: `WARNING: readable by other local users: ${wide.join('; ')}`,
    },
  ];
}
