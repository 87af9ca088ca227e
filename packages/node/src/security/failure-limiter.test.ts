import { FailureLimiter, hostOfPeer } from './failure-limiter';

test('failed attempts are limited per address and forgotten after the window', () => {
  let now = 0;
  const limiter = new FailureLimiter({ maxFailures: 3, windowMs: 1_000, now: () => now });
  for (let i = 0; i < 3; i++) {
    expect(() => limiter.check('10.0.0.1')).not.toThrow();
    limiter.record('10.0.0.1');
  }
  expect(() => limiter.check('10.0.0.1')).toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
  expect(() => limiter.check('10.0.0.2')).not.toThrow();
  now = 1_000;
  expect(() => limiter.check('10.0.0.1')).not.toThrow();
});

test('the host of a grpc-js peer string drops the port', () => {
  expect(hostOfPeer('127.0.0.1:5555')).toBe('127.0.0.1');
  expect(hostOfPeer('ipv4:10.1.2.3:80')).toBe('10.1.2.3');
  expect(hostOfPeer('[::1]:5555')).toBe('::1');
});
