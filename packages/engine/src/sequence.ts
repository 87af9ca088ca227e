import { decodeHlc, encodeHlc, HybridLogicalClock } from './hlc';
import { timeCommitIdWork } from './commit-id-cost';
import { recordCommit } from './commits';
import { ResourceName } from './resource-types';
import { SqlRunner } from './store/library-database';

/**
 * The library's change counter, read and advanced inside one write transaction. Every write of a
 * synced row or tombstone, local or applied from a peer, takes the next value. The counter is
 * read after BEGIN IMMEDIATE, under SQLite's write lock, or in PostgreSQL after the counter row
 * was locked (store/postgres-database.ts), so seq order is commit order across processes too.
 */
export class ChangeSequence {
  private constructor(
    private readonly sql: SqlRunner,
    private readonly clock: HybridLogicalClock,
    private last: number,
    private readonly first: number,
  ) {}

  /**
   * Opens the counter inside a write transaction; also raises the clock to the persisted floor,
   * and its held ceiling to the persisted one.
   */
  static async begin(sql: SqlRunner, clock: HybridLogicalClock): Promise<ChangeSequence> {
    const [state] = await sql.query<{ last_seq: number; hlc_floor: string; hlc_ceiling: string }>(
      'SELECT last_seq, hlc_floor, hlc_ceiling FROM library_identity WHERE id = 1',
    );
    // Another process writing this library may have moved both since we last looked.
    clock.observe(decodeHlc(state.hlc_floor));
    clock.noteHeld(decodeHlc(state.hlc_ceiling));
    return new ChangeSequence(sql, clock, state.last_seq, state.last_seq);
  }

  private readonly written = new Set<ResourceName>();

  /** The next seq, for a row or tombstone of `name`. */
  next(name: ResourceName): number {
    this.written.add(name);
    this.last += 1;
    return this.last;
  }

  get head(): number {
    return this.last;
  }

  /** The head before this transaction: its seqs are (base, head]. */
  get base(): number {
    return this.first;
  }

  /** The resource types this transaction wrote (a commit wakes only their follow streams). */
  get types(): ReadonlySet<ResourceName> {
    return this.written;
  }

  get changed(): boolean {
    return this.last !== this.first;
  }

  /**
   * Persists the counter, the HLC floor and the held ceiling, and names the seqs this transaction
   * issued with a fresh commit id; call last, inside the same transaction.
   */
  async commit(): Promise<void> {
    await this.sql.query(
      'UPDATE library_identity SET last_seq = ?, hlc_floor = ?, hlc_ceiling = ? WHERE id = 1',
      [this.last, encodeHlc(this.clock.current), encodeHlc(this.clock.heldCeiling)],
    );
    if (!this.changed) return;
    await timeCommitIdWork('record', () => recordCommit(this.sql, this.last));
    // PostgreSQL: other processes' follow streams of these types learn of it at commit.
    await this.sql.announce?.(this.last, [...this.written]);
  }
}
