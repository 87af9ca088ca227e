import { decodeHlc, encodeHlc, HybridLogicalClock, successorOf } from './hlc';
import { ResourceName } from './resource-types';
import { heldVersions } from './store/held-versions';
import { SqlRunner } from './store/library-database';
import { RowWriter } from './store/row-writer';

/**
 * Local writes are stamped above the version they replace. The receive rule adopts remote
 * stamps only up to the max drift, so the clock alone no longer orders an edit after a version
 * from a clock further ahead; without this, the device that made the edit would keep it while
 * every other device kept the version it meant to replace (docs/architecture.md, "Clocks").
 *
 * A write whose stamp is not above the held version (row or tombstone) of its uuid, or above an
 * earlier write of the same uuid in `writes`, takes that version's successor instead. Only that
 * row carries the raised stamp: the clock does not move. `writes` are in stamp order; while the
 * first is above the clock's held ceiling (always, unless a stamp from a clock beyond the max
 * drift was applied and the wall clock has not caught up with it) no version can be above it,
 * and nothing is looked up.
 */
export async function stampAboveHeld<W extends { readonly hlc: string }>(
  sql: SqlRunner,
  clock: HybridLogicalClock,
  name: ResourceName,
  writes: readonly W[],
  uuidOf: (write: W) => string,
): Promise<readonly W[]> {
  if (writes.length === 0 || writes[0].hlc > encodeHlc(clock.heldCeiling)) return writes;
  const uuids = writes.map(uuidOf);
  const anyTombstone = await new RowWriter(sql).hasTombstones(name);
  const held = await heldVersions(sql, name, [...new Set(uuids)], anyTombstone);
  const latest = new Map<string, string>();
  return writes.map((write, index) => {
    const uuid = uuids[index];
    const below = latest.get(uuid) ?? held.get(uuid)?.hlc;
    if (below === undefined || write.hlc > below) {
      latest.set(uuid, write.hlc);
      return write;
    }
    const raised = successorOf(decodeHlc(below));
    // A version above this clock's stamps is held now: later writes must look again.
    clock.noteHeld(raised);
    const hlc = encodeHlc(raised);
    latest.set(uuid, hlc);
    return { ...write, hlc };
  });
}
