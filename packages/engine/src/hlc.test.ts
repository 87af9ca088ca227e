import fc from 'fast-check';
import { TidemarkError } from './errors';
import {
  compareHlc,
  compareVersion,
  decodeHlc,
  DEFAULT_MAX_DRIFT_MS,
  encodeHlc,
  HlcStamp,
  HybridLogicalClock,
} from './hlc';

const T0 = Date.UTC(2025, 9, 20, 14, 0, 0);
const MAX_LOGICAL = 0xffff;
const DAY_MS = 24 * 3_600_000;

function clockAt(start = T0, options: { maxDriftMs?: number } = {}) {
  const wall = { ms: start };
  const clock = new HybridLogicalClock(undefined, { now: () => wall.ms, ...options });
  return { wall, clock };
}

describe('HybridLogicalClock', () => {
  test('local stamps strictly increase whether the wall clock stands, advances or steps back', () => {
    const { wall, clock } = clockAt();
    const stamps: HlcStamp[] = [];
    for (const move of [0, 0, 5, 0, -3_600_000, 0, 1, -1, 10_000, 3_700_000, 0]) {
      wall.ms += move;
      stamps.push(clock.now());
    }
    for (let i = 1; i < stamps.length; i++) expect(compareHlc(stamps[i], stamps[i - 1])).toBeGreaterThan(0);
  });

  test('stamps follow the wall clock when it moves forward', () => {
    const { wall, clock } = clockAt();
    expect(clock.now()).toEqual({ physicalMs: T0, logical: 0 });
    expect(clock.now()).toEqual({ physicalMs: T0, logical: 1 });
    wall.ms += 10;
    expect(clock.now()).toEqual({ physicalMs: T0 + 10, logical: 0 });
  });

  test('after a wall-clock step back the clock keeps its physical time and counts logically', () => {
    const { wall, clock } = clockAt();
    clock.now();
    wall.ms -= 3_600_000;
    expect(clock.now()).toEqual({ physicalMs: T0, logical: 1 });
  });

  test('a random walk of local events and receives never goes backwards (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({
              op: fc.constant('step' as const),
              ms: fc.integer({ min: -7_200_000, max: 7_200_000 }),
            }),
            fc.record({ op: fc.constant('now' as const) }),
            fc.record({
              op: fc.constant('receive' as const),
              ahead: fc.integer({ min: -DAY_MS, max: DAY_MS }),
              logical: fc.integer({ min: 0, max: MAX_LOGICAL }),
            }),
          ),
          { maxLength: 200 },
        ),
        (ops) => {
          const { wall, clock } = clockAt();
          let last = clock.now();
          for (const op of ops) {
            if (op.op === 'step') wall.ms = Math.max(1, wall.ms + op.ms);
            else if (op.op === 'receive') {
              const remote = { physicalMs: Math.max(1, wall.ms + op.ahead), logical: op.logical };
              const before = clock.current;
              clock.receive(remote);
              // Adopted up to the bound, never beyond it: exactly max(before, min(remote, bound)).
              const bound = { physicalMs: wall.ms + DEFAULT_MAX_DRIFT_MS, logical: 0 };
              const capped = remote.physicalMs > bound.physicalMs ? bound : remote;
              expect(clock.current).toEqual(compareHlc(capped, before) > 0 ? capped : before);
            } else {
              const stamp = clock.now();
              expect(compareHlc(stamp, last)).toBeGreaterThan(0);
              last = stamp;
            }
            expect(compareHlc(clock.current, last)).toBeGreaterThanOrEqual(0);
          }
        },
      ),
    );
  });

  test('receive rule: after a remote stamp ahead of the local clock, the next local stamp is above it', () => {
    const { clock } = clockAt();
    const remote = { physicalMs: T0 + 60_000, logical: 7 };
    clock.receive(remote);
    const next = clock.now();
    expect(compareHlc(next, remote)).toBeGreaterThan(0);
    expect(next).toEqual({ physicalMs: T0 + 60_000, logical: 8 });
  });

  test('receive rule: an older remote stamp does not move the clock back', () => {
    const { clock } = clockAt();
    const mine = clock.now();
    clock.receive({ physicalMs: T0 - 60_000, logical: 3 });
    expect(clock.current).toEqual(mine);
    expect(compareHlc(clock.now(), mine)).toBeGreaterThan(0);
  });

  test('capped receive rule: a stamp beyond the max drift raises the clock to the bound, no further, and never throws', () => {
    const { wall, clock } = clockAt(T0, { maxDriftMs: 1_000 });
    clock.now();
    const future = { physicalMs: T0 + DAY_MS, logical: 9 };
    expect(clock.aheadMs(future)).toBe(DAY_MS);
    clock.receive(future);
    expect(clock.current).toEqual({ physicalMs: T0 + 1_000, logical: 0 });
    // The next local stamp orders after the bound, and far below the remote stamp.
    expect(clock.now()).toEqual({ physicalMs: T0 + 1_000, logical: 1 });
    // As the wall clock moves on, the bound moves with it, and only with it.
    wall.ms += 500;
    clock.receive(future);
    expect(clock.current).toEqual({ physicalMs: T0 + 1_500, logical: 0 });
  });

  test('capped receive rule: a stamp exactly at the max drift is adopted as it is; the default max drift is 5 minutes', () => {
    const { clock } = clockAt(T0, { maxDriftMs: 1_000 });
    clock.receive({ physicalMs: T0 + 1_000, logical: 5 });
    expect(clock.current).toEqual({ physicalMs: T0 + 1_000, logical: 5 });
    const defaults = clockAt().clock;
    expect(defaults.maxDriftMs).toBe(5 * 60 * 1000);
    defaults.receive({ physicalMs: T0 + 5 * 60 * 1000 + 1, logical: 3 });
    expect(defaults.current).toEqual({ physicalMs: T0 + 5 * 60 * 1000, logical: 0 });
    expect(defaults.aheadMs({ physicalMs: T0 - 10, logical: 0 })).toBe(-10);
  });

  test('pinned ahead at the bound, 100,000 writes in one millisecond never overflow the 16-bit counter', () => {
    // The wall clock stands still; the clock was raised to the bound by a stamp a day ahead.
    const { clock } = clockAt(T0, { maxDriftMs: DEFAULT_MAX_DRIFT_MS });
    clock.receive({ physicalMs: T0 + DAY_MS, logical: MAX_LOGICAL });
    const bound = T0 + DEFAULT_MAX_DRIFT_MS;
    expect(clock.current).toEqual({ physicalMs: bound, logical: 0 });
    let last = clock.current;
    let lastText = encodeHlc(last);
    for (let i = 0; i < 100_000; i++) {
      const stamp = clock.now();
      const text = encodeHlc(stamp); // throws on a counter beyond 16 bits
      if (!(text > lastText) || stamp.logical > MAX_LOGICAL || compareHlc(stamp, last) <= 0)
        throw new Error(`stamp ${i} (${JSON.stringify(stamp)}) does not follow ${JSON.stringify(last)}`);
      last = stamp;
      lastText = text;
    }
    // 65,536 stamps per millisecond: 100,000 of them carried once into the physical part.
    expect(last).toEqual({ physicalMs: bound + 1, logical: 100_000 - 65_536 });
    expect(decodeHlc(lastText)).toEqual(last);
    // Receiving more stamps from the future adopts nothing: the clock is already past the bound.
    clock.receive({ physicalMs: T0 + DAY_MS, logical: 0 });
    expect(clock.current).toEqual(last);
  });

  test('a long run ahead of the wall clock: every stamp from the future capped, the clock runs ahead only by its own writes', () => {
    const { wall, clock } = clockAt(T0, { maxDriftMs: DEFAULT_MAX_DRIFT_MS });
    let writes = 0;
    let last = clock.now();
    // An hour of a peer a day fast: a stamp from it every second, 200 local writes a second.
    for (let second = 0; second < 3_600; second++) {
      wall.ms += 1_000;
      clock.receive({ physicalMs: wall.ms + DAY_MS, logical: MAX_LOGICAL });
      for (let i = 0; i < 200; i++, writes++) {
        const stamp = clock.now();
        if (compareHlc(stamp, last) <= 0) throw new Error(`stamp ${writes} goes back`);
        last = stamp;
      }
      const ahead = clock.current.physicalMs - wall.ms;
      if (ahead > DEFAULT_MAX_DRIFT_MS + Math.ceil(writes / 65_536))
        throw new Error(`${ahead} ms ahead after ${writes} writes`);
    }
    expect(clock.current.physicalMs).toBe(wall.ms + DEFAULT_MAX_DRIFT_MS);
    expect(decodeHlc(encodeHlc(last))).toEqual(last);
  });

  test('logical overflow borrows a millisecond instead of wrapping', () => {
    const wall = { ms: T0 };
    const clock = new HybridLogicalClock(
      { physicalMs: T0, logical: MAX_LOGICAL - 1 },
      { now: () => wall.ms },
    );
    expect(clock.now()).toEqual({ physicalMs: T0, logical: MAX_LOGICAL });
    expect(clock.now()).toEqual({ physicalMs: T0 + 1, logical: 0 });
    // A frozen wall clock and 70,000 events: still strictly increasing, still encodable.
    const { clock: busy } = clockAt();
    let last = busy.now();
    for (let i = 0; i < 70_000; i++) {
      const stamp = busy.now();
      if (compareHlc(stamp, last) <= 0 || stamp.logical > MAX_LOGICAL)
        throw new Error(`not monotonic at ${i}`);
      last = stamp;
    }
    expect(last.physicalMs).toBe(T0 + 1);
    expect(decodeHlc(encodeHlc(last))).toEqual(last);
  });

  test('a persisted floor keeps a new clock above it even when the wall clock is behind', () => {
    const floor = { physicalMs: T0 + 3_600_000, logical: 42 };
    const clock = new HybridLogicalClock(floor, { now: () => T0 });
    expect(clock.now()).toEqual({ physicalMs: T0 + 3_600_000, logical: 43 });
  });
});

describe('HLC encoding', () => {
  const stamp = fc.record({
    physicalMs: fc.integer({ min: 1, max: 2 ** 48 - 1 }),
    logical: fc.integer({ min: 0, max: MAX_LOGICAL }),
  });

  test('encode/decode round-trips', () => {
    fc.assert(fc.property(stamp, (s) => expect(decodeHlc(encodeHlc(s))).toEqual(s)));
  });

  test('string order of encoded stamps is stamp order', () => {
    fc.assert(
      fc.property(stamp, stamp, (x, y) => {
        const [ex, ey] = [encodeHlc(x), encodeHlc(y)];
        expect(Math.sign(ex < ey ? -1 : ex > ey ? 1 : 0)).toBe(Math.sign(compareHlc(x, y)));
      }),
    );
    // Boundaries a naive (non-padded) encoding gets wrong.
    const ordered = [
      { physicalMs: 1, logical: 0 },
      { physicalMs: 1, logical: 0xf },
      { physicalMs: 1, logical: 0x10 },
      { physicalMs: 1, logical: MAX_LOGICAL },
      { physicalMs: 2, logical: 0 },
      { physicalMs: 0xfff, logical: 0 },
      { physicalMs: 0x1000, logical: 0 },
      // Where the encoder splits physical time into its high 16 and low 32 bits.
      { physicalMs: 2 ** 32 - 1, logical: MAX_LOGICAL },
      { physicalMs: 2 ** 32, logical: 0 },
      { physicalMs: 2 ** 48 - 1, logical: MAX_LOGICAL },
    ].map(encodeHlc);
    expect([...ordered].sort()).toEqual(ordered);
    expect(new Set(ordered.map((e) => e.length))).toEqual(new Set([16]));
  });

  test('the encoding is byte for byte the one already stored: 12 + 4 zero-padded hex digits', () => {
    // Stored stamps are compared as TEXT with new ones, so the format can never drift.
    const reference = (s: { physicalMs: number; logical: number }) =>
      s.physicalMs.toString(16).padStart(12, '0') + s.logical.toString(16).padStart(4, '0');
    fc.assert(fc.property(stamp, (s) => expect(encodeHlc(s)).toBe(reference(s))));
    for (const edge of [
      { physicalMs: 0, logical: 0 },
      { physicalMs: 2 ** 24 - 1, logical: 0xff },
      { physicalMs: 2 ** 24, logical: 0x100 },
      { physicalMs: 2 ** 48 - 1, logical: MAX_LOGICAL },
    ]) {
      expect(encodeHlc(edge)).toBe(reference(edge));
    }
  });

  test('encode refuses a stamp that does not fit 48 + 16 bits', () => {
    for (const bad of [
      { physicalMs: 2 ** 48, logical: 0 },
      { physicalMs: -1, logical: 0 },
      { physicalMs: 1.5, logical: 0 },
      { physicalMs: Number.NaN, logical: 0 },
      { physicalMs: 1, logical: MAX_LOGICAL + 1 },
      { physicalMs: 1, logical: -1 },
    ]) {
      expect(() => encodeHlc(bad)).toThrow(TidemarkError);
    }
  });

  test('decode rejects anything that is not 16 lowercase hex digits', () => {
    for (const bad of [
      '',
      '0',
      '000000000000000g',
      '0000000000000000a',
      'ABCDEF0000000000',
      ' 000000000000000',
    ]) {
      expect(() => decodeHlc(bad)).toThrow(/not an encoded HLC/);
    }
  });

  test('compareVersion orders by hlc, then breaks ties by origin', () => {
    const [low, high] = [encodeHlc({ physicalMs: 5, logical: 1 }), encodeHlc({ physicalMs: 5, logical: 2 })];
    expect(compareVersion(low, 'b', high, 'a')).toBeLessThan(0);
    expect(compareVersion(high, 'a', low, 'b')).toBeGreaterThan(0);
    expect(compareVersion(low, 'a', low, 'b')).toBeLessThan(0);
    expect(compareVersion(low, 'b', low, 'a')).toBeGreaterThan(0);
    expect(compareVersion(low, 'a', low, 'a')).toBe(0);
  });
});
