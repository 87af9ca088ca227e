import { compareUtf8 } from './path-order';

test('compareUtf8 orders strings as their UTF-8 bytes do (the store index and the walk)', () => {
  const samples = [
    '',
    'a',
    'a-b',
    'a/',
    'a/b',
    'a0',
    'é',
    '\uE000',
    '\uFFFD',
    '😀',
    '😀/x',
    'z',
    'ab',
    'a\u0000',
  ];
  for (const a of samples) {
    for (const b of samples) {
      const bytes = Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect([a, b, Math.sign(compareUtf8(a, b))]).toEqual([a, b, bytes]);
    }
  }
});
