import { TidemarkError } from './errors';
import { HEX_DIGIT_CODES } from './hex-digits';

/** A hybrid logical clock stamp: physical milliseconds plus a logical counter. */
export interface HlcStamp {
  readonly physicalMs: number;
  readonly logical: number;
}

/** The logical counter has 16 bits. */
export const MAX_LOGICAL = 0xffff;
/** Physical time has 48 bits of milliseconds (good until the year 10889): it stays below this. */
export const PHYSICAL_MS_LIMIT = 2 ** 48;
/**
 * The lowest physical time a row or tombstone may be stamped with. 0 is representable, and is
 * the floor of a library that has stamped nothing yet (`ZERO_HLC`), but no real clock reads it:
 * a received stamp at 0 is corrupt, and `validateHlc` refuses it.
 */
export const MIN_STAMP_PHYSICAL_MS = 1;
const PHYSICAL_HEX = 12;

export const ZERO_HLC: HlcStamp = { physicalMs: 0, logical: 0 };

const TWO_32 = 0x100000000;

/**
 * Fixed-width hex so that string order is stamp order (the database compares these as TEXT).
 * Any stamp that fits, `ZERO_HLC` included. Digit by digit, because `toString(16)` and
 * `padStart` were a third of the per-row cost of checking a received batch (docs/architecture.md,
 * "Performance").
 */
export function encodeHlc(stamp: HlcStamp): string {
  const { physicalMs, logical } = stamp;
  if (!(physicalMs >= 0 && physicalMs < PHYSICAL_MS_LIMIT && Number.isInteger(physicalMs))) {
    throw new TidemarkError('INVALID_ARGUMENT', `HLC physical time ${physicalMs} is not 48-bit`);
  }
  if (!(logical >= 0 && logical <= MAX_LOGICAL && Number.isInteger(logical))) {
    throw new TidemarkError('INVALID_ARGUMENT', `HLC counter ${logical} is not 16-bit`);
  }
  // The high 16 bits of physical time, its low 32 bits, then the counter.
  const high = Math.floor(physicalMs / TWO_32);
  const low = physicalMs % TWO_32;
  const hex = HEX_DIGIT_CODES;
  return String.fromCharCode(
    hex[(high >>> 12) & 0xf],
    hex[(high >>> 8) & 0xf],
    hex[(high >>> 4) & 0xf],
    hex[high & 0xf],
    hex[(low >>> 28) & 0xf],
    hex[(low >>> 24) & 0xf],
    hex[(low >>> 20) & 0xf],
    hex[(low >>> 16) & 0xf],
    hex[(low >>> 12) & 0xf],
    hex[(low >>> 8) & 0xf],
    hex[(low >>> 4) & 0xf],
    hex[low & 0xf],
    hex[(logical >>> 12) & 0xf],
    hex[(logical >>> 8) & 0xf],
    hex[(logical >>> 4) & 0xf],
    hex[logical & 0xf],
  );
}

export function decodeHlc(encoded: string): HlcStamp {
  if (!/^[0-9a-f]{16}$/.test(encoded)) {
    throw new TidemarkError('INVALID_ARGUMENT', `not an encoded HLC: "${encoded}"`);
  }
  return {
    physicalMs: parseInt(encoded.slice(0, PHYSICAL_HEX), 16),
    logical: parseInt(encoded.slice(PHYSICAL_HEX), 16),
  };
}

export function compareHlc(a: HlcStamp, b: HlcStamp): number {
  return a.physicalMs - b.physicalMs || a.logical - b.logical;
}

/**
 * Compares two versions of a row. `origin` breaks ties so that every device picks the same
 * winner for concurrent writes stamped in the same millisecond with the same counter.
 */
export function compareVersion(aHlc: string, aOrigin: string, bHlc: string, bOrigin: string): number {
  if (aHlc !== bHlc) return aHlc < bHlc ? -1 : 1;
  if (aOrigin !== bOrigin) return aOrigin < bOrigin ? -1 : 1;
  return 0;
}

/**
 * Compares two held or received versions of one uuid: by (hlc, origin), then a tombstone above a
 * row. A device stamps a row and a tombstone with the same (hlc, origin) only after a restore
 * made it reissue a stamp it had used (stamp-above-held.ts gives an edit the successor of the
 * held stamp, the same one before and after the restore): without the last rule each device
 * kept whichever of the two arrived first, and no repair could settle it.
 */
export function compareVersionAndKind(
  aHlc: string,
  aOrigin: string,
  aTombstone: boolean,
  bHlc: string,
  bOrigin: string,
  bTombstone: boolean,
): number {
  return compareVersion(aHlc, aOrigin, bHlc, bOrigin) || Number(aTombstone) - Number(bTombstone);
}

export interface HlcOptions {
  /** Wall clock in milliseconds; injectable so tests can step it. */
  readonly now?: () => number;
  /**
   * The receive rule adopts remote stamps up to this far ahead of the wall clock, and no
   * further. Default 5 minutes.
   */
  readonly maxDriftMs?: number;
}

export const DEFAULT_MAX_DRIFT_MS = 5 * 60 * 1000;

/**
 * Monotonic hybrid logical clock (Kulkarni et al.). It never goes backwards: not when the wall
 * clock steps back, and not across restarts, because the owner persists `last` as the floor and
 * passes it back in.
 */
export class HybridLogicalClock {
  private last: HlcStamp;
  private ceiling: HlcStamp;
  private readonly wall: () => number;
  readonly maxDriftMs: number;

  constructor(floor: HlcStamp = ZERO_HLC, options: HlcOptions = {}) {
    this.last = floor;
    this.ceiling = floor;
    this.wall = options.now ?? Date.now;
    this.maxDriftMs = options.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS;
  }

  /** This device's wall clock, in ms: the clock's physical source, also for peer clock offsets. */
  wallNow(): number {
    return this.wall();
  }

  /** The highest stamp issued or observed: persisted as the floor. */
  get current(): HlcStamp {
    return this.last;
  }

  /**
   * No version held in this library is above this stamp, except the ones this clock issued
   * itself: it covers remote stamps beyond what the capped receive rule adopted, and stamps the
   * write path raised above them. Persisted with the floor. While the clock is past it, a local
   * write cannot be below a held version, and the write path need not look (stamp-above-held.ts).
   */
  get heldCeiling(): HlcStamp {
    return this.ceiling;
  }

  /** Notes that a version stamped `stamp`, not issued by this clock, is held here now. */
  noteHeld(stamp: HlcStamp): void {
    if (compareHlc(stamp, this.ceiling) > 0) this.ceiling = stamp;
  }

  /** Stamp a local event. */
  now(): HlcStamp {
    const wall = this.wall();
    if (wall > this.last.physicalMs) {
      this.last = { physicalMs: wall, logical: 0 };
    } else {
      this.last = successorOf(this.last);
    }
    return this.last;
  }

  /**
   * The receive rule: the clock moves past a remote stamp so that later local writes order after
   * it, but never further than the max drift ahead of the wall clock, so that one bad clock
   * cannot drag every device into the future (docs/architecture.md, "Clocks"). A stamp beyond
   * that bound raises the clock to the bound. Never throws: a wrong clock must not stall sync.
   */
  receive(remote: HlcStamp): void {
    this.noteHeld(remote);
    const bound = this.wall() + this.maxDriftMs;
    this.observe(remote.physicalMs > bound ? { physicalMs: Math.floor(bound), logical: 0 } : remote);
  }

  /** Raise the clock to at least `stamp`, uncapped: the persisted floor, which is our own. */
  observe(stamp: HlcStamp): void {
    if (compareHlc(stamp, this.last) > 0) this.last = stamp;
  }

  /**
   * How far `remote` is ahead of this device's wall clock, in ms (negative when behind). Beyond
   * `maxDriftMs` the stamp is still applied; the receive rule adopts it only up to the bound.
   */
  aheadMs(remote: HlcStamp): number {
    return remote.physicalMs - this.wall();
  }
}

/**
 * The next stamp after `stamp`. Overflowing the 16-bit counter advances the physical part by
 * one millisecond (records.proto's rule) rather than wrap, so a clock pinned ahead of its wall
 * clock stays sound under any number of writes per millisecond.
 */
export function successorOf(stamp: HlcStamp): HlcStamp {
  return stamp.logical >= MAX_LOGICAL
    ? { physicalMs: stamp.physicalMs + 1, logical: 0 }
    : { physicalMs: stamp.physicalMs, logical: stamp.logical + 1 };
}
