import { StateBatch } from '@tidemark/proto';
import { authorizeBatch } from './authorize-batch';
import { MalformedBatchError } from './errors';
import { compareVersion, encodeHlc, HlcStamp } from './hlc';
import { Library } from './library';
import { PeerHeadStore } from './peer-heads';
import { unwrapRecord } from './records';
import { DEVICE_OWNED, ResourceName, resourceNameOf } from './resource-types';
import { ChangeSequence } from './sequence';
import { SqlRunner } from './store/library-database';
import { dataValuesOf, RESOURCE_TABLES } from './store/resource-tables';
import { RowWriter, VersionedRow, VersionedTombstone } from './store/row-writer';
import { isUuid, validateFields, validateHlc } from './validate';
import { ownerOf } from './write-path';
import { ResourceWatermarkStore } from './watermarks';

export interface ApplyResult {
  readonly resourceType: ResourceName;
  /** Rows and tombstones in the batch. */
  readonly received: number;
  /** Rows and tombstones that won last-writer-wins and were written. */
  readonly written: number;
  /** Older or equal versions, skipped without a write. */
  readonly skipped: number;
  /** The watermark after the batch. */
  readonly watermarkSeq: number;
}

interface Incoming {
  readonly uuid: string;
  readonly hlc: string;
  readonly origin: string;
  readonly stamp: HlcStamp;
  /** Row values for a record; undefined for a tombstone. */
  readonly values?: readonly unknown[];
}

const MAX_LOOKUP = 10_000;

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
  if (!Number.isSafeInteger(checkpoint.seq) || checkpoint.seq < 0) {
    throw new MalformedBatchError(`${name} batch checkpoint seq ${checkpoint.seq} is invalid`);
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
    });
  });
  batch.tombstones.forEach((tombstone, index) => {
    const problem =
      tombstone.resourceType !== batch.resourceType
        ? 'resource type differs from the batch'
        : !isUuid(tombstone.uuid)
          ? 'uuid must be a lowercase hyphenated UUID'
          : !isUuid(tombstone.origin)
            ? 'origin must be a lowercase hyphenated UUID'
            : validateHlc(tombstone.hlc);
    if (problem) throw new MalformedBatchError(`${name} batch tombstone ${index}: ${problem}`);
    const stamp = tombstone.hlc as HlcStamp;
    items.push({ uuid: tombstone.uuid, hlc: encodeHlc(stamp), origin: tombstone.origin, stamp });
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

/** Current local versions (row or tombstone) of the given uuids. */
async function currentVersions(
  sql: SqlRunner,
  name: ResourceName,
  uuids: readonly string[],
): Promise<Map<string, { hlc: string; origin: string }>> {
  const versions = new Map<string, { hlc: string; origin: string }>();
  for (let start = 0; start < uuids.length; start += MAX_LOOKUP) {
    const chunk = uuids.slice(start, start + MAX_LOOKUP);
    const marks = chunk.map(() => '?').join(', ');
    const rows = await sql.query<{ uuid: string; hlc: string; origin: string }>(
      `SELECT uuid, hlc, origin FROM ${RESOURCE_TABLES[name].table} WHERE uuid IN (${marks})
       UNION ALL SELECT uuid, hlc, origin FROM tombstones WHERE resource_type = ? AND uuid IN (${marks})`,
      [...chunk, name, ...chunk],
    );
    for (const row of rows) {
      const known = versions.get(row.uuid);
      if (!known || compareVersion(row.hlc, row.origin, known.hlc, known.origin) > 0)
        versions.set(row.uuid, row);
    }
  }
  return versions;
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
): Promise<ApplyResult> {
  const { name, items } = parseBatch(batch);
  // The drift guard runs before anything is written: a stamp from a clock far in the future is
  // never adopted, and the whole batch is rejected.
  for (const item of items) library.clock.checkDrift(item.stamp);
  const checkpoint = batch.checkpoint!;
  let head = 0;
  let written = 0;
  const watermarkSeq = await library.db.writeTransaction(async (sql) => {
    // Inside the transaction, so a member removed concurrently is seen before anything is written.
    await authorizeBatch(
      sql,
      library.identity.deviceId,
      peerDeviceId,
      name,
      items.map((item) => item.origin),
    );
    const watermarks = new ResourceWatermarkStore(sql);
    const current = await watermarks.get(peerDeviceId, name);
    if (current && current.peerEpoch && current.peerEpoch !== checkpoint.epoch && !batch.reset) {
      throw new MalformedBatchError(
        `${name} batch is from epoch ${checkpoint.epoch} but the cursor is from ${current.peerEpoch} and the batch is not marked reset`,
      );
    }
    const sequence = await ChangeSequence.begin(sql, library.clock);
    const versions = await currentVersions(sql, name, [...new Set(items.map((item) => item.uuid))]);
    const rows: VersionedRow[] = [];
    const tombstones: VersionedTombstone[] = [];
    for (const item of items) {
      const known = versions.get(item.uuid);
      // Equal versions are the same write seen twice: skipping them makes a resent batch harmless.
      if (known && compareVersion(item.hlc, item.origin, known.hlc, known.origin) <= 0) continue;
      versions.set(item.uuid, { hlc: item.hlc, origin: item.origin });
      library.clock.receive(item.stamp);
      const versioned = { hlc: item.hlc, origin: item.origin, seq: sequence.next() };
      if (item.values) rows.push({ values: item.values, ...versioned });
      else tombstones.push({ uuid: item.uuid, ...versioned });
    }
    const writer = new RowWriter(sql);
    await writer.upsertRows(name, rows);
    await writer.writeTombstones(name, tombstones);
    // A resent or reordered batch must never move the cursor backwards within one epoch.
    const sameEpoch = current?.peerEpoch === checkpoint.epoch;
    const nextSeq = sameEpoch && !batch.reset ? Math.max(current!.lastSeq, checkpoint.seq) : checkpoint.seq;
    const lastHlc = checkpoint.hlc && !validateHlc(checkpoint.hlc) ? encodeHlc(checkpoint.hlc) : undefined;
    await watermarks.advance(peerDeviceId, name, checkpoint.epoch, nextSeq, lastHlc, Date.now());
    await new PeerHeadStore(sql).raise(peerDeviceId, name, checkpoint.seq);
    await sequence.commit();
    head = sequence.head;
    written = rows.length + tombstones.length;
    return nextSeq;
  });
  if (written > 0) library.notifyCommitted(head);
  return {
    resourceType: name,
    received: items.length,
    written,
    skipped: items.length - written,
    watermarkSeq,
  };
}
