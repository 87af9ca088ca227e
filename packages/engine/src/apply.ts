import { MembershipChange, OriginPrefix, StateBatch } from '@tidemark/proto';
import { acceptChanges } from './membership/accept-changes';
import { authorizeRows, MembershipView, readMembershipView } from './membership/authorize-batch';
import { rederiveMembers } from './membership/membership-state';
import { changeFromRecord, checkChange, SignedChange } from './membership/signed-change';
import { isCommitIdForm } from './commits';
import { recordSkippedRows } from './membership/skipped-rows';
import { MalformedBatchError, StaleFilterError, TidemarkError } from './errors';
import { compareVersionAndKind, encodeHlc, HlcStamp } from './hlc';
import { Library } from './library';
import { PeerHeadStore } from './peer-heads';
import { unwrapRecord } from './records';
import { DEVICE_OWNED, ResourceName, resourceNameOf } from './resource-types';
import { ChangeSequence } from './sequence';
import { heldVersions } from './store/held-versions';
import { SqlRunner } from './store/library-database';
import { dataValuesOf, ownerOf, RESOURCE_TABLES } from './store/resource-tables';
import { RowWriter, VersionedRow, VersionedTombstone } from './store/row-writer';
import { isUuid, validateEpoch, validateFields, validateHlc } from './validate';
import { ResourceWatermarkStore } from './watermarks';
import { lineageIdsFor, lineageKey, OriginPrefixStore } from './origin-prefixes';
import { markOwnLineageUnordered } from './own-lineage-coverage';

export interface ApplyResult {
  readonly resourceType: ResourceName;
  /** Rows and tombstones in the batch. */
  readonly received: number;
  /** Rows and tombstones that won last-writer-wins and were written. */
  readonly written: number;
  /** Older or equal versions, skipped without a write. */
  readonly skipped: number;
  /**
   * Rows and tombstones of a removed member stamped at or after its removal (or of a device
   * whose admission was void): left out without rejecting the batch, the watermark advances.
   */
  readonly skippedAfterRemoval: number;
  /**
   * Rows and tombstones of this device's own identity that it does not hold at that version:
   * left out, unless the apply adopts them (`ApplyOptions.adoptOwnRows`, after a restore).
   */
  readonly ownRowsSkipped: number;
  /** The watermark after the batch. */
  readonly watermarkSeq: number;
  /**
   * Rows and tombstones stamped more than the max drift ahead of this device's clock: applied
   * like any other, adopted by the clock only up to the bound (docs/architecture.md, "Clocks").
   */
  readonly beyondDrift: number;
  /** How far ahead of this device's clock the furthest of them was, in ms; 0 when none. */
  readonly maxAheadMs: number;
  /** Rows and tombstones the server left out because this device holds them (`held_skipped`). */
  readonly heldSkipped: number;
  /** Origin prefixes of this type the batch's checkpoint raised here. */
  readonly prefixesRaised: number;
  /**
   * Per origin device (the row's `origin`): rows and tombstones received, and written. What a
   * peer sent of an origin beyond what was written is a copy this device already held (or an
   * older version): in a mesh, which relay passes on which origin's rows twice.
   */
  readonly byOrigin: ReadonlyMap<string, OriginCounts>;
}

/** A batch from a peer that committed here, as `Library.applied$` reports it. */
export interface AppliedBatch extends ApplyResult {
  /** The device the batch came from (the peer whose stream it was). */
  readonly peerDeviceId: string;
}

/** Rows and tombstones of one origin in a batch. */
export interface OriginCounts {
  readonly received: number;
  readonly written: number;
}

interface Incoming {
  readonly uuid: string;
  readonly hlc: string;
  readonly origin: string;
  readonly stamp: HlcStamp;
  /** Row values for a record; undefined for a tombstone. */
  readonly values?: readonly unknown[];
  /** The seq the version took at its origin, and the origin's epoch then; 0 and '' when unknown. */
  readonly originSeq: number;
  readonly originEpoch: string;
}

/**
 * The origin seq and epoch of record `index`, from the batch's parallel lists; a record without
 * them (a server that predates them, or 0 sent for it) has neither.
 */
function recordOrigin(batch: StateBatch, index: number): { originSeq: number; originEpoch: string } {
  const originSeq = batch.recordOriginSeqs[index] ?? 0;
  const ref = batch.recordOriginEpochs[index] ?? 0;
  if (originSeq === 0 || ref === 0) return { originSeq: 0, originEpoch: '' };
  return { originSeq, originEpoch: batch.originEpochs[ref - 1] };
}

/** Why the batch's origin lists are unusable, or undefined when they are fine. */
function checkOriginLists(batch: StateBatch): string | undefined {
  const records = batch.records.length;
  for (const [field, list] of [
    ['record_origin_seqs', batch.recordOriginSeqs],
    ['record_origin_epochs', batch.recordOriginEpochs],
  ] as const) {
    if (list.length !== 0 && list.length !== records) {
      return `${field} has ${list.length} entries for ${records} records`;
    }
  }
  if (!batch.originEpochs.every(isUuid)) return 'origin_epochs must be lowercase hyphenated UUIDs';
  if (!batch.recordOriginSeqs.every((seq) => Number.isSafeInteger(seq) && seq >= 0)) {
    return 'record_origin_seqs must be below 2^53';
  }
  if (!batch.recordOriginEpochs.every((ref) => ref <= batch.originEpochs.length)) {
    return 'record_origin_epochs refers past origin_epochs';
  }
  for (const prefix of batch.checkpoint?.covered ?? []) {
    if (
      !isUuid(prefix.origin) ||
      !isUuid(prefix.epoch) ||
      !Number.isSafeInteger(prefix.seq) ||
      prefix.seq < 0
    ) {
      return 'checkpoint.covered needs UUID origins and epochs and seqs below 2^53';
    }
  }
  return undefined;
}

/**
 * Checks everything in a batch before anything is written: one malformed record rejects the
 * whole batch, and the watermark stays where it was.
 */
function parseBatch(batch: StateBatch): { name: ResourceName; items: Incoming[] } {
  let name: ResourceName;
  try {
    name = resourceNameOf(batch.resourceType);
  } catch {
    throw new MalformedBatchError(`batch has unknown resource type ${batch.resourceType}`);
  }
  const checkpoint = batch.checkpoint;
  if (!checkpoint || checkpoint.resourceType !== batch.resourceType || !checkpoint.epoch) {
    throw new MalformedBatchError(`${name} batch has no checkpoint of its own type and epoch`);
  }
  const badEpoch = validateEpoch(checkpoint.epoch);
  if (badEpoch) throw new MalformedBatchError(`${name} batch checkpoint ${badEpoch}`);
  if (!Number.isSafeInteger(checkpoint.seq) || checkpoint.seq < 0) {
    throw new MalformedBatchError(`${name} batch checkpoint seq ${checkpoint.seq} is invalid`);
  }
  const originProblem = checkOriginLists(batch);
  if (originProblem) throw new MalformedBatchError(`${name} batch: ${originProblem}`);
  // In-process callers may build a checkpoint without the field; the wire always decodes one.
  const commitId = checkpoint.commitId ?? '';
  if (!isCommitIdForm(commitId)) {
    throw new MalformedBatchError(
      `${name} batch checkpoint commit_id must be empty or 32 lowercase hex digits`,
    );
  }
  const items: Incoming[] = [];
  batch.records.forEach((wire, index) => {
    const record = unwrapRecord(name, wire);
    if (!record) throw new MalformedBatchError(`${name} batch record ${index} is not a ${name}`);
    const fields = record as unknown as { [field: string]: unknown };
    const problem = validateFields(name, fields) ?? validateHlc(record.hlc) ?? checkOrigin(name, fields);
    if (problem) throw new MalformedBatchError(`${name} batch record ${index}: ${problem}`);
    const stamp = record.hlc as HlcStamp;
    items.push({
      uuid: record.uuid,
      hlc: encodeHlc(stamp),
      origin: record.origin,
      stamp,
      values: dataValuesOf(RESOURCE_TABLES[name], record),
      ...recordOrigin(batch, index),
    });
  });
  batch.tombstones.forEach((tombstone, index) => {
    const problem =
      tombstone.resourceType !== batch.resourceType
        ? 'resource type differs from the batch'
        : name === 'membership'
          ? 'membership changes are never deleted'
          : name === 'device' && tombstone.origin !== tombstone.uuid
            ? `a device row is deleted only by the device itself, not by ${tombstone.origin}`
            : !isUuid(tombstone.uuid)
              ? 'uuid must be a lowercase hyphenated UUID'
              : !isUuid(tombstone.origin)
                ? 'origin must be a lowercase hyphenated UUID'
                : (validateHlc(tombstone.hlc) ??
                  (!Number.isSafeInteger(tombstone.originSeq) || tombstone.originSeq < 0
                    ? 'origin_seq must be below 2^53'
                    : tombstone.originEpoch !== '' && !isUuid(tombstone.originEpoch)
                      ? 'origin_epoch must be empty or a lowercase hyphenated UUID'
                      : undefined));
    if (problem) throw new MalformedBatchError(`${name} batch tombstone ${index}: ${problem}`);
    const stamp = tombstone.hlc as HlcStamp;
    const known = tombstone.originSeq > 0 && tombstone.originEpoch !== '';
    items.push({
      uuid: tombstone.uuid,
      hlc: encodeHlc(stamp),
      origin: tombstone.origin,
      stamp,
      originSeq: known ? tombstone.originSeq : 0,
      originEpoch: known ? tombstone.originEpoch : '',
    });
  });
  return { name, items };
}

function checkOrigin(name: ResourceName, record: { [field: string]: unknown }): string | undefined {
  if (!isUuid(record.origin)) return 'origin must be a lowercase hyphenated UUID';
  // Only the owner writes device-owned rows, so a different origin is a forged or corrupt row.
  if (DEVICE_OWNED.has(name) && ownerOf(name, record) !== record.origin) {
    return `origin ${String(record.origin)} is not the owning device ${ownerOf(name, record)}`;
  }
  return undefined;
}

/**
 * The changes of a membership batch, each checked on its own: its origin is its signer, its id
 * is its payload's (so it was signed for this library and not altered), an ADD's certificate is
 * its subject's. Signatures and signers are checked against stored changes in the transaction.
 */
function parseChanges(libraryId: string, batch: StateBatch): SignedChange[] {
  return batch.records.map((wire, index) => {
    const record = unwrapRecord('membership', wire) as MembershipChange;
    const change = changeFromRecord(record);
    const problem =
      record.origin !== record.signer
        ? `origin ${record.origin} is not the signer ${record.signer}`
        : checkChange(libraryId, change);
    if (problem) throw new MalformedBatchError(`membership batch record ${index}: ${problem}`);
    return change;
  });
}

/** How an apply treats rows of this device's own identity. */
export interface ApplyOptions {
  /**
   * Take rows of this device's own identity that it does not hold at that version (after a
   * restore from an old backup, `tidemark repair --adopt-own`). By default they are skipped and
   * counted: a node never lets a peer write in its name.
   */
  readonly adoptOwnRows?: boolean;
  /**
   * The claims the request of these batches sent (`Cursor.held`). When this device no longer
   * makes one of them (it was forgotten since), the batches are refused with StaleFilterError:
   * the rows they left out on its strength may not be held, and the cursor must not pass them.
   */
  readonly requestedHeld?: readonly OriginPrefix[];
}

/**
 * A batch that passed every check that needs no database: ready for its transaction. It keeps
 * the checkpoint and the parsed items, not the decoded records, so those can be collected
 * before the transaction runs: at 5,000 entries a batch's records are several MB of objects.
 */
interface PreparedBatch {
  readonly checkpoint: NonNullable<StateBatch['checkpoint']>;
  readonly reset: boolean;
  readonly caughtUp: boolean;
  readonly heldSkipped: number;
  readonly name: ResourceName;
  readonly items: Incoming[];
  /** A membership batch's changes, in stream order; empty for other types. */
  readonly changes: readonly SignedChange[];
  readonly beyondDrift: number;
  readonly maxAheadMs: number;
}

function prepareBatch(library: Library, batch: StateBatch): PreparedBatch {
  const { name, items } = parseBatch(batch);
  // A wrong clock never stalls a stream: stamps from the future are applied, and counted here.
  let beyondDrift = 0;
  let maxAheadMs = 0;
  for (const item of items) {
    const ahead = library.clock.aheadMs(item.stamp);
    if (ahead > library.clock.maxDriftMs) {
      beyondDrift += 1;
      maxAheadMs = Math.max(maxAheadMs, ahead);
    }
  }
  const changes = name === 'membership' ? parseChanges(library.identity.libraryId, batch) : [];
  return {
    checkpoint: batch.checkpoint!,
    reset: batch.reset,
    caughtUp: batch.caughtUp,
    heldSkipped: Number(batch.heldSkipped) || 0,
    name,
    items,
    changes,
    beyondDrift,
    maxAheadMs,
  };
}

/**
 * What the batches of one apply transaction share, read once after BEGIN: the change counter,
 * the membership (read again after a membership batch changed it) and each type's watermark
 * (kept current here as batches advance it).
 * Re-reading them per batch cost a few ms of round trips each, for values no other writer can
 * change while the transaction holds SQLite's write lock.
 */
interface ApplyContext {
  readonly sql: SqlRunner;
  readonly library: Library;
  readonly peerDeviceId: string;
  readonly sequence: ChangeSequence;
  membership: MembershipView;
  readonly options: ApplyOptions;
  readonly watermarks: ResourceWatermarkStore;
  readonly cursors: Map<ResourceName, CursorPosition | undefined>;
  /** Types whose origin prefixes this transaction raised. */
  readonly raised: Set<ResourceName>;
  /** Types whose requested claims were checked against the held ones in this transaction. */
  readonly filterChecked: Set<ResourceName>;
}

async function openApplyContext(
  sql: SqlRunner,
  library: Library,
  peerDeviceId: string,
  options: ApplyOptions,
): Promise<ApplyContext> {
  return {
    sql,
    library,
    peerDeviceId,
    sequence: await ChangeSequence.begin(sql, library.clock),
    // Inside the transaction, so a member removed concurrently is seen before anything is written.
    membership: await readMembershipView(sql),
    options,
    watermarks: new ResourceWatermarkStore(sql),
    cursors: new Map(),
    raised: new Set(),
    filterChecked: new Set(),
  };
}

interface CursorPosition {
  readonly peerEpoch: string;
  readonly lastSeq: number;
  readonly peerCommit: string;
}

async function cursorOf(context: ApplyContext, name: ResourceName) {
  if (!context.cursors.has(name)) {
    const stored = await context.watermarks.get(context.peerDeviceId, name);
    context.cursors.set(
      name,
      stored && { peerEpoch: stored.peerEpoch, lastSeq: stored.lastSeq, peerCommit: stored.peerCommit },
    );
  }
  return context.cursors.get(name);
}

/**
 * The body of one batch's apply, run inside a write transaction that the caller owns: every
 * step of it (seqs, rows, tombstones, watermark, peer head) commits or rolls back with it.
 */
async function applyInTransaction(context: ApplyContext, prepared: PreparedBatch): Promise<ApplyResult> {
  const { checkpoint, reset, name, items, changes, beyondDrift, maxAheadMs } = prepared;
  const { sql, library, peerDeviceId, sequence } = context;
  const self = library.identity.deviceId;
  const { skipped: refused } = authorizeRows(context.membership, self, peerDeviceId, name, items);
  await acceptChanges(sql, library.identity.libraryId, changes);
  await refuseStaleFilter(context, name);
  const current = await cursorOf(context, name);
  if (current && current.peerEpoch && current.peerEpoch !== checkpoint.epoch && !reset) {
    throw new MalformedBatchError(
      `${name} batch is from epoch ${checkpoint.epoch} but the cursor is from ${current.peerEpoch} and the batch is not marked reset`,
    );
  }
  const writer = new RowWriter(sql);
  // Probed once per batch, for the lookup and the upsert; this batch's own tombstones are
  // written after both.
  const anyTombstone = await writer.hasTombstones(name);
  const versions = await heldVersions(sql, name, [...new Set(items.map((item) => item.uuid))], anyTombstone);
  const lineages = await lineageIdsFor(
    sql,
    items
      .filter((item) => item.originSeq > 0)
      .map((item) => ({ origin: item.origin, epoch: item.originEpoch })),
  );
  const rows: VersionedRow[] = [];
  const tombstones: VersionedTombstone[] = [];
  const owned = DEVICE_OWNED.has(name);
  let ownRowsSkipped = 0;
  let older = 0;
  const refusedByOrigin = new Map<string, number>();
  const adoptOwn = context.options.adoptOwnRows || name === 'membership';
  for (const [index, item] of items.entries()) {
    if (refused.has(index)) {
      refusedByOrigin.set(item.origin, (refusedByOrigin.get(item.origin) ?? 0) + 1);
      continue;
    }
    const known = versions.get(item.uuid);
    // For these types origin is the owner: another origin would take the uuid over (a row
    // re-sent under another owner, or a tombstone of a row from a device that does not own it).
    if (owned && known && known.origin !== item.origin) {
      throw new TidemarkError(
        'FORBIDDEN_ROWS',
        `${name} batch from ${peerDeviceId}: ${name} ${item.uuid} belongs to device ${known.origin}; ` +
          `a ${item.values ? 'row' : 'tombstone'} from ${item.origin} would take it over`,
      );
    }
    // Equal versions are the same write seen twice: skipping them makes a resent batch harmless.
    // At equal (hlc, origin) a tombstone wins over a row (compareVersionAndKind).
    if (
      known &&
      compareVersionAndKind(item.hlc, item.origin, !item.values, known.hlc, known.origin, known.tombstone) <=
        0
    ) {
      older += 1;
      continue;
    }
    // Only this device writes in its own name: a version of its own it does not hold came from
    // a forger, or from before a restore, which only an explicit adoption takes back.
    // Membership changes are signed (accept-changes.ts verified this one): one in this device's
    // name is its own, lost in a restore, never a forgery, and skipping it would leave this
    // device's members differing from everyone else's for good.
    if (item.origin === self && !adoptOwn) {
      ownRowsSkipped += 1;
      continue;
    }
    versions.set(item.uuid, { hlc: item.hlc, origin: item.origin, tombstone: !item.values });
    // Capped at the max drift ahead of the wall clock (docs/architecture.md, "Clocks").
    library.clock.receive(item.stamp);
    const versioned = {
      hlc: item.hlc,
      origin: item.origin,
      seq: sequence.next(name),
      originSeq: item.originSeq,
      lineage: item.originSeq > 0 ? lineages.get(lineageKey(item.origin, item.originEpoch))! : 0,
    };
    if (item.values) rows.push({ values: item.values, ...versioned });
    else tombstones.push({ uuid: item.uuid, ...versioned });
  }
  await writer.upsertRows(name, rows, { anyTombstone });
  await writer.writeTombstones(name, tombstones);
  if (adoptOwn && [...rows, ...tombstones].some((item) => item.origin === self)) {
    // Versions of this device's own identity now sit at seqs other than their origin seqs: no
    // claim on its lineage before caught_up in this epoch (docs/architecture.md).
    await markOwnLineageUnordered(sql, library.identity.epoch);
  }
  if (name === 'membership' && rows.length > 0) {
    // The batches after this one in the transaction are authorized by the new membership.
    await rederiveMembers(sql);
    context.membership = await readMembershipView(sql);
  }
  await recordSkippedRows(sql, peerDeviceId, name, {
    afterRemoval: refusedByOrigin,
    ownIdentity: new Map([[self, ownRowsSkipped]]),
  });
  // A resent or reordered batch must never move the cursor backwards within one epoch.
  // The commit id travels with the seq it names.
  const sameEpoch = current?.peerEpoch === checkpoint.epoch;
  const keep = sameEpoch && !reset && current!.lastSeq > checkpoint.seq;
  const next: CursorPosition = keep
    ? current!
    : { peerEpoch: checkpoint.epoch, lastSeq: checkpoint.seq, peerCommit: checkpoint.commitId ?? '' };
  const lastHlc = checkpoint.hlc && !validateHlc(checkpoint.hlc) ? encodeHlc(checkpoint.hlc) : undefined;
  await context.watermarks.advance(peerDeviceId, name, next, lastHlc, Date.now());
  context.cursors.set(name, next);
  await new PeerHeadStore(sql).raise(peerDeviceId, name, checkpoint.seq);
  if (reset && sameEpoch) {
    // The server restarted a cursor of its own epoch: its history changed under that epoch (a
    // restore that kept it, docs/architecture.md "Restored libraries"), and what this device
    // claims of its lineage may be of the lost history, whose origin seqs the new one reuses.
    // Forgetting a claim only costs transfer. The other peers' streams of the type may have
    // left out rows on its strength, below their cursors: those cursors restart from 0, and
    // streams still filtered by it are refused (refuseStaleFilter) and asked again.
    if (await new OriginPrefixStore(sql).forget(peerDeviceId, checkpoint.epoch, name)) {
      await context.watermarks.rewindOthers(peerDeviceId, name, Date.now());
      context.raised.add(name);
    }
  }
  // `?? []`: the decoder always sets it, but a batch built in process may leave it out (as
  // parseBatch allows), and that covers nothing. A batch before caught_up covers at most the
  // server's own lineage in its epoch; anything else it lists is not taken.
  const covered = (checkpoint.covered ?? []).filter(
    (prefix) => prepared.caughtUp || (prefix.origin === peerDeviceId && prefix.epoch === checkpoint.epoch),
  );
  const prefixesRaised = await adoptCovered(context, name, covered);
  const written = rows.length + tombstones.length;
  const byOrigin = new Map<string, { received: number; written: number }>();
  const countOf = (origin: string) => {
    let counts = byOrigin.get(origin);
    if (!counts) byOrigin.set(origin, (counts = { received: 0, written: 0 }));
    return counts;
  };
  for (const item of items) countOf(item.origin).received += 1;
  for (const item of [...rows, ...tombstones]) countOf(item.origin).written += 1;
  return {
    resourceType: name,
    received: items.length,
    byOrigin,
    written,
    skipped: older,
    skippedAfterRemoval: refused.size,
    ownRowsSkipped,
    watermarkSeq: next.lastSeq,
    beyondDrift,
    maxAheadMs,
    heldSkipped: prepared.heldSkipped,
    prefixesRaised,
  };
}

/**
 * Refuses a batch served against a claim this device no longer makes (see
 * ApplyOptions.requestedHeld): claims only grow except when forgotten, so a requested claim
 * above the one held now means the filter is stale. Checked once per type and transaction,
 * inside it, so a claim forgotten by another peer's apply is seen before this one writes.
 */
async function refuseStaleFilter(context: ApplyContext, name: ResourceName): Promise<void> {
  const requested = context.options.requestedHeld;
  if (!requested?.length || context.filterChecked.has(name)) return;
  context.filterChecked.add(name);
  const self = context.library.identity.deviceId;
  const held = new Map(
    (await new OriginPrefixStore(context.sql).forType(name)).map((p) => [
      lineageKey(p.origin, p.epoch),
      p.seq,
    ]),
  );
  for (const claim of requested) {
    if (claim.origin === self) continue;
    if ((held.get(lineageKey(claim.origin, claim.epoch)) ?? 0) < claim.seq) {
      throw new StaleFilterError(
        `${name} batch was served against a claim on ${claim.origin} (epoch ${claim.epoch}) up to ${claim.seq} that this device forgot since; asking again`,
      );
    }
  }
}

/**
 * Takes the origin prefixes a batch covers as held here (a caught-up batch: any; one before
 * caught_up: the server's own lineage, filtered by the caller), in the transaction that
 * applied it (docs/architecture.md, "Origin-aware serving"). Not about this device (its own
 * lineage needs none; rows of its earlier lineages are exactly the ones apply skips as its own)
 * and not about an origin removed here (apply skips its later rows, so this device may not hold
 * all the server does). Removal is final: an origin not removed now never was, so none of its
 * rows were skipped before.
 */
async function adoptCovered(
  context: ApplyContext,
  name: ResourceName,
  covered: NonNullable<StateBatch['checkpoint']>['covered'],
): Promise<number> {
  const self = context.library.identity.deviceId;
  const { membership } = context;
  const adoptable = covered.filter(
    (prefix) =>
      prefix.origin !== self &&
      !membership.refusedFrom.has(prefix.origin) &&
      !(membership.listed.has(prefix.origin) && !membership.active.has(prefix.origin)),
  );
  if (adoptable.length === 0) return 0;
  if (!DEVICE_OWNED.has(name)) {
    // A shared row this peer served and apply left out (a removed member's later version, or a
    // version in this device's own name) may have replaced, at the peer, a version of any other
    // lineage: the peer's claims then cover a version this device holds neither of, nor anything
    // newer, and every server would leave it out here. So nothing the peer claims of the type is
    // taken once it served such a row (skipped_rows, written above in this transaction for this
    // batch). Device-owned rows cannot replace another origin's (FORBIDDEN_ROWS), so their claims
    // stay safe to take.
    const [skipped] = await context.sql.query<{ n: number }>(
      'SELECT count(*) AS n FROM skipped_rows WHERE peer_device_id = ? AND resource_type = ? AND rows > 0',
      [context.peerDeviceId, name],
    );
    if (Number(skipped.n) > 0) return 0;
  }
  const ids = await lineageIdsFor(context.sql, adoptable);
  const store = new OriginPrefixStore(context.sql);
  let raised = 0;
  for (const prefix of adoptable) {
    if (await store.raise(ids.get(lineageKey(prefix.origin, prefix.epoch))!, name, prefix.seq)) raised += 1;
  }
  if (raised > 0) context.raised.add(name);
  return raised;
}

/** Applies prepared batches, in order, in ONE transaction: all of them commit, or none does. */
async function applyTogether(
  library: Library,
  peerDeviceId: string,
  prepared: readonly PreparedBatch[],
  options: ApplyOptions,
): Promise<ApplyResult[]> {
  let head = 0;
  let base = 0;
  let written: ResourceName[] = [];
  let raised: ResourceName[] = [];
  const results = await library.db.writeTransaction(async (sql) => {
    const context = await openApplyContext(sql, library, peerDeviceId, options);
    const applied: ApplyResult[] = [];
    for (const batch of prepared) applied.push(await applyInTransaction(context, batch));
    // Persists the counter and the HLC floor the receive rule raised, once for all batches.
    await context.sequence.commit();
    if (context.sequence.changed) head = context.sequence.head;
    base = context.sequence.base;
    written = [...context.sequence.types];
    raised = [...context.raised];
    return applied;
  });
  if (head > 0) library.notifyCommitted(head, written, base);
  for (const name of raised) library.notifyPrefixesRaised({ resourceType: name, peerDeviceId });
  return results;
}

/**
 * Applies one batch from `peerDeviceId` in ONE transaction: last-writer-wins by (hlc, origin),
 * winners take local seqs (so they can be served onward), tombstones delete and are kept, the
 * HLC receive rule runs, and the (peer, type) watermark moves to the batch checkpoint. If any
 * of it fails, all of it rolls back, watermark included.
 */
export async function applyBatch(
  library: Library,
  peerDeviceId: string,
  batch: StateBatch,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const [result] = await applyTogether(library, peerDeviceId, [prepareBatch(library, batch)], options);
  return result;
}

export interface AppliedBatches {
  /** One result per applied batch, in order: a prefix of the batches given. */
  readonly results: readonly ApplyResult[];
  /** Why the batch after the applied ones was rejected; the batches after it were not tried. */
  readonly failure?: unknown;
}

/**
 * Applies consecutive batches of one stream with the outcome of applying them one by one with
 * `applyBatch`, but in as few transactions as possible: each transaction commits, updates
 * indexes and writes the WAL once for all of them, which is most of an apply's cost at 5000-row
 * batches. Every batch is checked first; the valid ones before the first malformed one are
 * applied together, each advancing its watermark inside the shared transaction, so the cursor
 * ends at the last applied batch's checkpoint. If that transaction fails, they are applied
 * again one by one, so a batch rejected inside the transaction (epoch, membership) still fails
 * alone, after the batches before it committed.
 *
 * `batches` is read once, in order: pass an iterable that lets go of each batch as it is taken
 * (see the client's `drain`) and its decoded records can be collected before the transaction.
 */
export async function applyBatches(
  library: Library,
  peerDeviceId: string,
  batches: Iterable<StateBatch>,
  options: ApplyOptions = {},
): Promise<AppliedBatches> {
  const prepared: PreparedBatch[] = [];
  let failure: unknown;
  let failed = false;
  for (const batch of batches) {
    try {
      prepared.push(prepareBatch(library, batch));
    } catch (error) {
      failure = error;
      failed = true;
      break;
    }
  }
  const committed = (results: readonly ApplyResult[]) => {
    for (const result of results) library.notifyApplied({ ...result, peerDeviceId });
    return results;
  };
  if (prepared.length > 1) {
    try {
      const results = committed(await applyTogether(library, peerDeviceId, prepared, options));
      return failed ? { results, failure } : { results };
    } catch {
      // Rolled back as a whole: find the batch that fails, committing the ones before it.
    }
  }
  const results: ApplyResult[] = [];
  for (const batch of prepared) {
    try {
      results.push(...committed(await applyTogether(library, peerDeviceId, [batch], options)));
    } catch (error) {
      return { results, failure: error };
    }
  }
  return failed ? { results, failure } : { results };
}
