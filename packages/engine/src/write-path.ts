import { encodeHlc, HybridLogicalClock } from './hlc';
import { TidemarkError } from './errors';
import { FieldsOf, ResourceName } from './resource-types';
import { ChangeSequence } from './sequence';
import { stampAboveHeld } from './stamp-above-held';
import { selectRecord } from './reads/stored-records';
import { SqlRunner } from './store/library-database';
import { dataValuesOf, ownerColumnOf, ownerOf, RESOURCE_TABLES } from './store/resource-tables';
import { RowWriter, VersionedRow, VersionedTombstone } from './store/row-writer';
import { isUuid, validateFields } from './validate';
import { recordFromChange, SignedChange } from './membership/signed-change';

/**
 * Membership changes are signed, immutable and never deleted: they are made by the functions of
 * membership/membership-writes.ts, never put or deleted like rows.
 */
function refuseMembership(name: ResourceName): void {
  if (name === 'membership') {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      'membership changes are signed: make them with signMemberAdd, signMemberRemove or signMemberRename',
    );
  }
}

/** Pending writes are flushed in multi-row statements of about this many rows. */
const FLUSH_EVERY = 2_000;

type Pending =
  | { readonly op: 'put'; readonly name: ResourceName; readonly rows: VersionedRow[] }
  | { readonly op: 'delete'; readonly name: ResourceName; readonly tombstones: VersionedTombstone[] };

/**
 * The one write path for local changes to synced rows. Each `put` or `delete` is stamped with the
 * device's HLC and the next change-sequence number; the whole callback is one SQLite transaction,
 * so a bulk indexing run of 10,000 entries is one commit, not 10,000.
 */
export class WriteTransaction {
  private pending: Pending | undefined;
  private readonly rows: RowWriter;

  /** @internal Only `Library.write` opens a write transaction. */
  constructor(
    /** @internal The transaction's connection, for the engine's own reads inside it. */
    readonly sql: SqlRunner,
    private readonly sequence: ChangeSequence,
    private readonly clock: HybridLogicalClock,
    readonly deviceId: string,
    /** This database's own lineage: where every local write comes from. */
    private readonly lineage: number,
  ) {
    this.rows = new RowWriter(sql);
  }

  /** Creates or replaces a row with a new version stamped by this device. */
  async put<N extends ResourceName>(name: N, fields: FieldsOf<N>): Promise<void> {
    await this.putAll(name, [fields]);
  }

  /**
   * `put` of each record, in order. A bulk writer (the indexer) calls this rather than awaiting
   * `put` per row: the promises of a call per row were a fifth of a first index's allocation,
   * which the garbage collector then paid for on both cores.
   */
  async putAll<N extends ResourceName>(name: N, records: readonly FieldsOf<N>[]): Promise<void> {
    let rows: VersionedRow[] | undefined;
    for (const fields of records) {
      const row = this.versionOf(name, fields as unknown as { [field: string]: unknown });
      rows ??= await this.pendingRows(name);
      rows.push(row);
      if (rows.length >= FLUSH_EVERY) {
        await this.flush();
        rows = undefined;
      }
    }
  }

  /** A record checked and stamped: the next HLC and seq (a refused record takes neither). */
  private versionOf(name: ResourceName, record: { [field: string]: unknown }): VersionedRow {
    refuseMembership(name);
    const problem = validateFields(name, record);
    if (problem) throw new TidemarkError('INVALID_ARGUMENT', `invalid ${name}: ${problem}`);
    const owner = ownerOf(name, record);
    if (owner !== undefined && owner !== this.deviceId) {
      // Device-owned rows are written only by their owner; anything else would be a forged row.
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `a ${name} owned by device ${owner} cannot be written on device ${this.deviceId}`,
      );
    }
    const seq = this.sequence.next(name);
    return {
      values: dataValuesOf(RESOURCE_TABLES[name], record as never),
      hlc: encodeHlc(this.clock.now()),
      origin: this.deviceId,
      seq,
      originSeq: seq,
      lineage: this.lineage,
    };
  }

  /**
   * Puts a row only when a field differs from the stored one, and says whether it did. Every put
   * takes a new HLC and seq that every peer downloads, so a writer that runs again over the same
   * data (re-indexing an unchanged volume) must not put.
   */
  async putIfChanged<N extends ResourceName>(name: N, fields: FieldsOf<N>): Promise<boolean> {
    const wanted = fields as unknown as { readonly [field: string]: unknown };
    await this.flush(); // a put of the same row earlier in this transaction is what is stored
    const stored = (await selectRecord(this.sql, name, String(wanted.uuid))) as
      { readonly [field: string]: unknown } | undefined;
    if (stored && Object.keys(wanted).every((field) => stored[field] === wanted[field])) return false;
    await this.put(name, fields);
    return true;
  }

  /** Deletes a row, leaving a tombstone that travels to every peer. */
  async delete(name: ResourceName, uuid: string): Promise<void> {
    refuseMembership(name);
    // Apply rejects a tombstone whose uuid is not a lowercase hyphenated UUID, and with it the
    // whole batch. Written here, such a tombstone would wedge this type at every peer on every
    // retry (the watermark could never pass it), so it is refused like an invalid put.
    if (!isUuid(uuid)) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `cannot delete ${name} ${JSON.stringify(uuid)}: not a lowercase hyphenated UUID`,
      );
    }
    if (ownerColumnOf(name) === 'uuid' && uuid !== this.deviceId) {
      // A device row is owned by the device it describes (see assertHeldRowsAreOwn).
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `device ${uuid} can only be deleted by itself, not by device ${this.deviceId}`,
      );
    }
    const seq = this.sequence.next(name);
    const tombstone: VersionedTombstone = {
      uuid,
      hlc: encodeHlc(this.clock.now()),
      origin: this.deviceId,
      seq,
      originSeq: seq,
      lineage: this.lineage,
    };
    const tombstones = await this.pendingTombstones(name);
    tombstones.push(tombstone);
    if (tombstones.length >= FLUSH_EVERY) await this.flush();
  }

  /**
   * Stores a signed membership change as it was signed: its stamp is part of what was signed,
   * so it is written as given (membership/membership-writes.ts stamps it above every change
   * held), with this transaction's next seq.
   * @internal
   */
  async putSignedChange(change: SignedChange): Promise<void> {
    await this.flush();
    const table = RESOURCE_TABLES.membership;
    const seq = this.sequence.next('membership');
    // A change signed by another device (a bridge writes none, but stay exact) has no known
    // origin seq here: it is never left out of a stream.
    const own = change.signer === this.deviceId;
    await this.rows.upsertRows('membership', [
      {
        values: dataValuesOf(table, recordFromChange(change)),
        hlc: change.hlc,
        origin: change.signer,
        seq,
        originSeq: own ? seq : 0,
        lineage: own ? this.lineage : 0,
      },
    ]);
  }

  /** Writes what is buffered; reads inside the transaction see it afterwards. */
  async flush(): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return;
    if (pending.op === 'put') {
      await this.assertHeldRowsAreOwn(
        pending.name,
        pending.rows.map((row) => String(row.values[0])),
      );
      await this.rows.upsertRows(
        pending.name,
        await stampAboveHeld(this.sql, this.clock, pending.name, pending.rows, (row) =>
          String(row.values[0]),
        ),
      );
    } else {
      await this.assertHeldRowsAreOwn(
        pending.name,
        pending.tombstones.map((tombstone) => tombstone.uuid),
      );
      await this.rows.writeTombstones(
        pending.name,
        await stampAboveHeld(
          this.sql,
          this.clock,
          pending.name,
          pending.tombstones,
          (tombstone) => tombstone.uuid,
        ),
      );
    }
  }

  /**
   * Only the owner writes device-owned state, deletes included. `put` checks the owner the new
   * record names; this checks what is already held here, as a row (its owner field) or as a
   * tombstone (its origin, which for these types is the owner). Without it, another device could
   * take an owner's row over with a put, or delete it: a tombstone names no owner, so apply
   * everywhere, the owner included, would delete the owner's own row (even its device row).
   * Rows this device has never received cannot be checked here. One query per flushed chunk.
   */
  private async assertHeldRowsAreOwn(name: ResourceName, uuids: readonly string[]): Promise<void> {
    const ownerColumn = ownerColumnOf(name);
    // A row owned by its own uuid (the device row) needs no look-up: put has checked that the
    // uuid is this device's, and delete checks it too.
    if (ownerColumn === undefined || ownerColumn === 'uuid' || uuids.length === 0) return;
    const table = RESOURCE_TABLES[name];
    const { dialect } = this.sql;
    // The uuids as one bound JSON text, twice, rather than two bound parameters per row: each
    // parameter costs the event loop an N-API call (row-writer.ts). A first index of 200,000
    // files spent 1.4 s in this query with 4,000 parameters a flush, 1.0 s with two texts.
    const wanted = JSON.stringify(uuids);
    const [foreign] = await this.sql.query<{ uuid: string; owner: string }>(
      `SELECT uuid, owner FROM (
         SELECT uuid, ${ownerColumn} AS owner FROM ${table.table}
           WHERE uuid IN (SELECT value FROM ${dialect.jsonTexts('?', 'rows_wanted')})
         UNION ALL SELECT uuid, origin AS owner FROM tombstones WHERE resource_type = ?
           AND uuid IN (SELECT value FROM ${dialect.jsonTexts('?', 'tombstones_wanted')})
       ) AS held WHERE owner <> ? LIMIT 1`,
      [wanted, name, wanted, this.deviceId],
    );
    if (foreign) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `${name} ${foreign.uuid} belongs to device ${foreign.owner}; ` +
          `only its owner can change or delete it, not device ${this.deviceId}`,
      );
    }
  }

  // Writes are buffered per (op, type) and flushed in order, so a delete after a put of the same
  // row in one transaction still wins.
  private async pendingRows(name: ResourceName): Promise<VersionedRow[]> {
    if (this.pending?.op === 'put' && this.pending.name === name) return this.pending.rows;
    await this.flush();
    const rows: VersionedRow[] = [];
    this.pending = { op: 'put', name, rows };
    return rows;
  }

  private async pendingTombstones(name: ResourceName): Promise<VersionedTombstone[]> {
    if (this.pending?.op === 'delete' && this.pending.name === name) return this.pending.tombstones;
    await this.flush();
    const tombstones: VersionedTombstone[] = [];
    this.pending = { op: 'delete', name, tombstones };
    return tombstones;
  }
}
