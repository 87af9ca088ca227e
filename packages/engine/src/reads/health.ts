import { MembershipAction } from '@tidemark/proto';
import { decodeHlc, encodeHlc, ZERO_HLC } from '../hlc';
import { Library } from '../library';
import { readDeviceName, readMembers } from '../membership/members';
import { readSkippedRows, SkipReason } from '../membership/skipped-rows';
import { readDigestChecks } from './digest-checks';
import { readPeerClocks } from './peer-clocks';
import { RESOURCE_NAMES, ResourceName, resourceNameOf } from '../resource-types';
import { RESOURCE_TABLES } from '../store/resource-tables';
import { readPeerHeads, readResourceHeads, readWatermarks } from './sync-state';
import { countAssignmentsOfDeletedTags } from './tags';

/** How bad a finding is: 'info' explains history, 'problem' asks the user to act. */
export type HealthSeverity = 'ok' | 'info' | 'problem';

/** One result of checking a library, with the facts a user interface puts into words. */
export type HealthFinding =
  | {
      readonly kind: 'integrity';
      readonly severity: 'ok' | 'problem';
      /** SQLite's `integrity_check` answer: 'ok', or what it found. */
      readonly result: string;
    }
  | {
      /**
       * Rows or tombstones of a type whose HLC stamp is not 16 lowercase hex digits: written
       * outside Tidemark (a sqlite3 shell, a damaged copy). Every read that decodes stamps
       * (heads, digests, handshakes) fails on them, so nothing after this finding is checked.
       */
      readonly kind: 'malformed_stamps';
      readonly severity: 'problem';
      readonly resourceType: ResourceName;
      readonly rows: number;
      readonly tombstones: number;
    }
  | {
      /**
       * This device was removed from the library, as its own copy of the membership says: every
       * member refuses it, for good (removal is final for a device identity).
       */
      readonly kind: 'removed_device';
      readonly severity: 'problem';
      /** When the removal was signed (its stamp's wall-clock part). */
      readonly removedAtMs: number;
      /** The member that signed the removal; '' when its change is not held here. */
      readonly removedBy: string;
      /** That member's name (readDeviceName); '' when it has none. */
      readonly removedByName: string;
      /**
       * Never a member rather than removed: every ADD of this device held here is void (signed
       * by a device that was not a member then); `removedAtMs` is when it was added.
       */
      readonly voided: boolean;
    }
  | {
      /** This library was migrated from the legacy single global watermark. */
      readonly kind: 'legacy_migration';
      readonly severity: 'info';
      readonly peerDeviceId: string;
      /** The dropped global watermark, undefined when the peer had none. */
      readonly legacyStateWatermark: string | undefined;
      readonly migratedAtMs: number;
      /** Resource types applied from that peer since (watermark above zero). */
      readonly resyncedTypes: number;
    }
  | {
      /** This device has applied less of a peer's type than the peer had at the last contact. */
      readonly kind: 'behind';
      readonly severity: 'problem';
      readonly peerDeviceId: string;
      readonly resourceType: ResourceName;
      readonly appliedSeq: number;
      readonly peerHeadSeq: number;
    }
  | {
      /**
       * The watermark claims the peer's whole type while this device holds fewer rows than the
       * peer had: rows skipped by a cursor that moved too far (the legacy global watermark's bug).
       */
      readonly kind: 'watermark_ahead_of_data';
      readonly severity: 'problem';
      readonly peerDeviceId: string;
      readonly resourceType: ResourceName;
      readonly heldRows: number;
      readonly peerRows: number;
    }
  | {
      /**
       * Rows a peer sent that apply left out without stalling the type, per peer, origin, type
       * and reason (docs/security.md): rows of a removed member written after its removal are
       * expected (a relay took them before it heard of the removal) and only reported; rows in
       * this device's own name that it did not hold ask for a decision: adopt them after a
       * restore (`tidemark repair --adopt-own`), or find out why that peer holds rows forged in
       * this device's name.
       */
      readonly kind: 'skipped_rows';
      readonly severity: 'info' | 'problem';
      readonly reason: SkipReason;
      readonly peerDeviceId: string;
      /** The device that wrote them; '' when it was not recorded (counted before migration 0010). */
      readonly originDeviceId: string;
      readonly resourceType: ResourceName;
      readonly rows: number;
      readonly lastAtMs: number;
    }
  | {
      /** No watermark is behind or ahead of its data (none at all before the first sync). */
      readonly kind: 'watermarks';
      readonly severity: 'ok';
      readonly watermarks: number;
    }
  | {
      readonly kind: 'clock';
      readonly severity: 'ok' | 'problem';
      /** How far the persisted HLC floor is ahead of the wall clock (negative when behind). */
      readonly floorAheadMs: number;
    }
  | {
      /**
       * A peer's clock is off from this device's by more than the max drift, as estimated at its
       * last handshake: that device's clock is wrong (docs/architecture.md, "Clocks").
       */
      readonly kind: 'peer_clock';
      readonly severity: 'problem';
      readonly peerDeviceId: string;
      /** The peer's name (readDeviceName), when this device knows one. */
      readonly peerName: string | undefined;
      /** The peer's clock minus this device's: positive when the peer's clock is ahead. */
      readonly offsetMs: number;
      /** The round trip the estimate came from (its error is half of it); undefined one way. */
      readonly roundTripMs: number | undefined;
      readonly measuredAtMs: number;
      readonly maxDriftMs: number;
    }
  | {
      /**
       * Every peer (two or more) is off from this device's clock in the same direction by more
       * than the max drift: this device's clock is the likely wrong one.
       */
      readonly kind: 'own_clock';
      readonly severity: 'problem';
      /** How far this clock is ahead of the nearest of them (negative when behind all of them). */
      readonly aheadMs: number;
      readonly peers: number;
      readonly maxDriftMs: number;
    }
  | {
      /**
       * The node's anti-entropy found this type different from a peer's at its newest comparison
       * (this device's own rows left out of both): rows one side lacks that a cursor skipped, or
       * rows a restored peer lost (docs/architecture.md, "Restored libraries").
       */
      readonly kind: 'digest_mismatch';
      readonly severity: 'problem';
      readonly peerDeviceId: string;
      readonly resourceType: ResourceName;
      readonly checkedAtMs: number;
      /** Rows plus tombstones on each side. */
      readonly localCount: number;
      readonly peerCount: number;
    }
  | {
      /** Every type compared with every peer by anti-entropy was equal at its newest comparison. */
      readonly kind: 'digest_checks';
      readonly severity: 'ok';
      /** Peers compared with. */
      readonly peers: number;
    }
  | {
      /**
       * Tag assignments that name a tag deleted here: a tag removed on one device while another
       * assigned it (reads/tags.ts). Hidden from `tag list`, kept on every device until deleted.
       */
      readonly kind: 'deleted_tag_assignments';
      readonly severity: 'info';
      readonly assignments: number;
    }
  | {
      /** Every peer with an estimate is within the max drift of this device's clock. */
      readonly kind: 'peer_clocks';
      readonly severity: 'ok';
      readonly peers: number;
      readonly maxDriftMs: number;
    };

export interface HealthCheckOptions {
  /** The wall clock to compare the HLC floor with (default now). */
  readonly nowMs?: number;
  /**
   * Clocks a little ahead are normal; a floor this much ahead of the wall clock means a stamp
   * came from a wrong clock. Default one minute.
   */
  readonly floorAheadToleranceMs?: number;
  /** A peer clock further off than this is a problem. Default: the library clock's max drift. */
  readonly maxDriftMs?: number;
}

const DEFAULT_FLOOR_AHEAD_TOLERANCE_MS = 60_000;

/**
 * Checks an open library: database integrity, whether this device was removed from the library,
 * the legacy migration it may have had, every watermark against the peer's last known head and
 * against the rows held here, the rows apply skipped (per peer, origin, type and reason), the HLC
 * floor against the wall clock, the peers' clock offsets against the max drift, the node's newest
 * digest comparison with each peer, and tag assignments left naming a deleted tag. Findings come
 * in that order.
 */
export async function checkLibraryHealth(
  library: Library,
  options: HealthCheckOptions = {},
): Promise<HealthFinding[]> {
  const read = library.db.read;
  const findings: HealthFinding[] = [];
  // PostgreSQL checks its own pages (and has no PRAGMA): a hub reports its integrity as ok.
  let integrity: { integrity_check: string };
  try {
    [integrity] =
      read.dialect.kind === 'sqlite'
        ? await read.query<{ integrity_check: string }>('PRAGMA integrity_check')
        : [{ integrity_check: 'ok' }];
  } catch (error) {
    // Pages so damaged that the check itself stops (SQLITE_CORRUPT): that is the finding, and
    // nothing read after it could be trusted.
    findings.push({
      kind: 'integrity',
      severity: 'problem',
      result: `the check could not read the database: ${(error as Error).message}`,
    });
    return findings;
  }
  findings.push({
    kind: 'integrity',
    severity: integrity.integrity_check === 'ok' ? 'ok' : 'problem',
    result: integrity.integrity_check,
  });
  if (read.dialect.kind === 'sqlite') {
    const malformed = await malformedStamps(library);
    // The checks below read stamps (heads, the HLC floor): they would fail on these rows.
    if (malformed.length) return [...findings, ...malformed];
  }
  const removed = await selfRemoval(library);
  if (removed) findings.push(removed);

  const legacy = await read.query<{
    peer_device_id: string;
    legacy_state_watermark: string | null;
    migrated_at_ms: number;
  }>('SELECT peer_device_id, legacy_state_watermark, migrated_at_ms FROM legacy_watermark_migrations');
  const marks = await readWatermarks(library);
  for (const row of legacy) {
    findings.push({
      kind: 'legacy_migration',
      severity: 'info',
      peerDeviceId: row.peer_device_id,
      legacyStateWatermark: row.legacy_state_watermark ?? undefined,
      migratedAtMs: row.migrated_at_ms,
      resyncedTypes: marks.filter((m) => m.peerDeviceId === row.peer_device_id && m.lastSeq > 0).length,
    });
  }

  const peerHeads = await readPeerHeads(library);
  const held = await readResourceHeads(library);
  // A removed member is never synced, compared or measured again: what this device last knew of
  // it (its head, its clock, a digest comparison) asks for nothing, and doctor names no fix for it.
  const removedPeers = await removedMembers(library);
  let inconsistent = false;
  for (const mark of marks) {
    if (removedPeers.has(mark.peerDeviceId)) continue;
    const head = peerHeads.find(
      (h) => h.peerDeviceId === mark.peerDeviceId && h.resourceType === mark.resourceType,
    );
    if (!head) continue;
    const local = held.find((h) => resourceNameOf(h.resourceType) === mark.resourceType);
    const where = { peerDeviceId: mark.peerDeviceId, resourceType: mark.resourceType } as const;
    if (mark.lastSeq < head.headSeq) {
      inconsistent = true;
      findings.push({
        kind: 'behind',
        severity: 'problem',
        ...where,
        appliedSeq: mark.lastSeq,
        peerHeadSeq: head.headSeq,
      });
    } else if (local && local.rowCount + local.tombstoneCount < head.rowCount) {
      inconsistent = true;
      findings.push({
        kind: 'watermark_ahead_of_data',
        severity: 'problem',
        ...where,
        heldRows: local.rowCount,
        peerRows: head.rowCount,
      });
    }
  }
  if (!inconsistent) findings.push({ kind: 'watermarks', severity: 'ok', watermarks: marks.length });
  for (const skipped of await readSkippedRows(library)) {
    findings.push({
      kind: 'skipped_rows',
      severity: skipped.reason === 'own_identity' ? 'problem' : 'info',
      ...skipped,
    });
  }

  const [floor] = await read.query<{ hlc_floor: string }>(
    'SELECT hlc_floor FROM library_identity WHERE id = 1',
  );
  const floorAheadMs = decodeHlc(floor.hlc_floor).physicalMs - (options.nowMs ?? Date.now());
  const tolerance = options.floorAheadToleranceMs ?? DEFAULT_FLOOR_AHEAD_TOLERANCE_MS;
  findings.push({ kind: 'clock', severity: floorAheadMs > tolerance ? 'problem' : 'ok', floorAheadMs });
  findings.push(
    ...(await peerClockFindings(library, options.maxDriftMs ?? library.clock.maxDriftMs, removedPeers)),
  );
  findings.push(...(await digestCheckFindings(library, removedPeers)));
  const orphaned = await countAssignmentsOfDeletedTags(library);
  if (orphaned > 0)
    findings.push({ kind: 'deleted_tag_assignments', severity: 'info', assignments: orphaned });
  return findings;
}

/** The removal of this device, when the membership held here has it. */
async function selfRemoval(library: Library): Promise<HealthFinding | undefined> {
  const read = library.db.read;
  const self = library.identity.deviceId;
  const [row] = await read.query<{ removed_at_ms: number | null; removed_hlc: string | null }>(
    'SELECT removed_at_ms, removed_hlc FROM members WHERE device_id = ?',
    [self],
  );
  if (!row || row.removed_at_ms === null) return undefined;
  // The derivation refuses a voided identity from the zero stamp: no REMOVE made it so.
  const voided = row.removed_hlc === encodeHlc(ZERO_HLC);
  // The effective REMOVE is the one whose stamp the derivation recorded (a void one by a
  // non-member may precede it). A device removed locally before signed membership has none.
  const [signer] =
    row.removed_hlc === null || voided
      ? []
      : await read.query<{ signer: string }>(
          `SELECT signer FROM membership_changes WHERE subject = ? AND action = ? AND hlc = ?
           ORDER BY uuid LIMIT 1`,
          [self, MembershipAction.MEMBERSHIP_ACTION_REMOVE, row.removed_hlc],
        );
  return {
    kind: 'removed_device',
    severity: 'problem',
    removedAtMs: Number(row.removed_at_ms),
    removedBy: signer?.signer ?? '',
    removedByName: signer ? await readDeviceName(library, signer.signer) : '',
    voided,
  };
}

/** Per type, rows and tombstones whose stored HLC stamp does not decode (SQLite only). */
async function malformedStamps(library: Library): Promise<HealthFinding[]> {
  const bad = (column: string) => `(length(${column}) <> 16 OR ${column} GLOB '*[^0-9a-f]*')`;
  const findings: HealthFinding[] = [];
  for (const name of RESOURCE_NAMES) {
    const [row] = await library.db.read.query<{ n: number; t: number }>(
      `SELECT (SELECT count(*) FROM ${RESOURCE_TABLES[name].table} WHERE ${bad('hlc')}) AS n,
              (SELECT count(*) FROM tombstones WHERE resource_type = ? AND ${bad('hlc')}) AS t`,
      [name],
    );
    if (row.n > 0 || row.t > 0) {
      findings.push({
        kind: 'malformed_stamps',
        severity: 'problem',
        resourceType: name,
        rows: Number(row.n),
        tombstones: Number(row.t),
      });
    }
  }
  return findings;
}

/** The devices the membership held here has removed (other than this one). */
async function removedMembers(library: Library): Promise<Set<string>> {
  const removed = (await readMembers(library)).filter(
    (member) => member.removedAtMs !== undefined && member.deviceId !== library.identity.deviceId,
  );
  return new Set(removed.map((member) => member.deviceId));
}

async function digestCheckFindings(
  library: Library,
  removedPeers: ReadonlySet<string>,
): Promise<HealthFinding[]> {
  const checks = (await readDigestChecks(library)).filter((check) => !removedPeers.has(check.peerDeviceId));
  const different = checks.filter((check) => !check.equal);
  // Like peer clocks: nothing to say before a node has compared with any peer.
  if (checks.length === 0) return [];
  if (different.length === 0) {
    return [
      {
        kind: 'digest_checks',
        severity: 'ok',
        peers: new Set(checks.map((check) => check.peerDeviceId)).size,
      },
    ];
  }
  return different.map((check) => ({
    kind: 'digest_mismatch',
    severity: 'problem',
    peerDeviceId: check.peerDeviceId,
    resourceType: check.resourceType,
    checkedAtMs: check.checkedAtMs,
    localCount: check.localCount,
    peerCount: check.peerCount,
  }));
}

/**
 * Names each peer whose clock is off by more than the max drift; when all of them (two or
 * more) are off the same way, this device's clock is the one to fix, and only that is said.
 */
async function peerClockFindings(
  library: Library,
  maxDriftMs: number,
  removedPeers: ReadonlySet<string>,
): Promise<HealthFinding[]> {
  const clocks = (await readPeerClocks(library)).filter((clock) => !removedPeers.has(clock.peerDeviceId));
  if (clocks.length === 0) return [];
  const off = clocks.filter((clock) => Math.abs(clock.offsetMs) > maxDriftMs);
  if (off.length === 0) return [{ kind: 'peer_clocks', severity: 'ok', peers: clocks.length, maxDriftMs }];
  const allAhead = clocks.every((clock) => clock.offsetMs > maxDriftMs);
  const allBehind = clocks.every((clock) => clock.offsetMs < -maxDriftMs);
  if (clocks.length >= 2 && (allAhead || allBehind)) {
    const nearest = Math.min(...clocks.map((clock) => Math.abs(clock.offsetMs)));
    return [
      {
        kind: 'own_clock',
        severity: 'problem',
        aheadMs: allAhead ? -nearest : nearest,
        peers: clocks.length,
        maxDriftMs,
      },
    ];
  }
  const findings: HealthFinding[] = [];
  for (const clock of off) {
    const peerName = await readDeviceName(library, clock.peerDeviceId);
    findings.push({
      kind: 'peer_clock',
      severity: 'problem',
      peerDeviceId: clock.peerDeviceId,
      peerName: peerName || undefined,
      offsetMs: clock.offsetMs,
      roundTripMs: clock.roundTripMs,
      measuredAtMs: clock.measuredAtMs,
      maxDriftMs,
    });
  }
  return findings;
}
