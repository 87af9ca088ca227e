import { BarState, formatBarLine, formatEta } from './progress-line';

const bar = (progress: number) => `${Math.round(progress * 100)}%`;
const line = (state: Partial<BarState>) =>
  formatBarLine({ label: 'entry', done: 0, total: 0, finished: false, ...state }, bar);

test('a running bar with a measured rate shows the rate and the time left', () => {
  expect(line({ done: 20_000, total: 40_000, rowsPerSecond: 9_311.4 })).toBe(
    ' entry            |50%| 20,000/40,000 rows | 9,311 rows/s | ETA 3s',
  );
});

test('a rate that is not known yet, or zero, is left out, and so is the ETA it would give', () => {
  for (const rowsPerSecond of [undefined, 0, Number.NaN, Number.POSITIVE_INFINITY]) {
    expect(line({ done: 5_000, total: 40_000, rowsPerSecond })).toBe(
      ' entry            |13%| 5,000/40,000 rows',
    );
  }
});

test('a finished bar says done instead of an ETA, with its rate when known', () => {
  expect(line({ done: 150, total: 150, finished: true })).toBe(
    ' entry            |100%| 150/150 rows | done',
  );
  expect(line({ done: 150, total: 150, finished: true, rowsPerSecond: 6_250 })).toBe(
    ' entry            |100%| 150/150 rows | 6,250 rows/s | done',
  );
});

test('a type with nothing to send is a full bar that says so, not an empty 0/1', () => {
  expect(line({ done: 0, total: 0, finished: true, rowsPerSecond: 0 })).toBe(
    ' entry            |100%| caught up, nothing to send',
  );
});

test('ETAs are whole seconds, then minutes and seconds, then hours and minutes', () => {
  expect([0.2, 59, 60, 65.5, 3599, 3600, 7_384].map(formatEta)).toEqual([
    '1s',
    '59s',
    '1m00s',
    '1m06s',
    '59m59s',
    '1h00m',
    '2h03m',
  ]);
});
