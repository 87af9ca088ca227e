import { formatStampTime, formatTable, printable } from './output';

test('control characters and bidi overrides from peers are printed as escapes', () => {
  const hostile = 'laptop\u001b[2J\u001b]0;owned\u0007\r\nfake line\u009b31m\u202etxt.exe';
  expect(printable(hostile)).toBe(
    'laptop\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{d}\\u{a}fake line\\u{9b}31m\\u{202e}txt.exe',
  );
  expect(printable('plain naïve 名前')).toBe('plain naïve 名前');
  const table = formatTable(['device', 'name'], [['d1', hostile]]);
  // eslint-disable-next-line no-control-regex
  expect(table).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
  expect(table.split('\n')).toHaveLength(3);
});

test('a stamp ahead of this clock (a device whose clock ran ahead) is said to be ahead, not shown as the time', () => {
  const now = Date.UTC(2026, 11, 6, 2, 10, 0);
  expect(formatStampTime(now - 5_000, now)).toBe('2026-12-06 02:09:55Z');
  expect(formatStampTime(now + 30_000, now)).toBe('2026-12-06 02:10:30Z'); // within a minute: clocks differ
  expect(formatStampTime(now + 5 * 60_000, now)).toBe(
    '2026-12-06 02:15:00Z (stamped 5 min ahead of this clock)',
  );
  expect(formatStampTime(undefined, now)).toBe('-');
});
