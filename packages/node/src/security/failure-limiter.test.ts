import { FailureLimiter, hostOfPeer, limitKeyOf } from './failure-limiter';

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

test('IPv6 addresses are limited per /64; IPv4-mapped ones as their IPv4 address', () => {
  expect(limitKeyOf('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
  expect(limitKeyOf('2001:0db8:0001:0002:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
  expect(limitKeyOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
  expect(limitKeyOf('::ffff:10.0.0.1')).toBe('10.0.0.1');
  expect(limitKeyOf('10.0.0.1')).toBe('10.0.0.1');
  const limiter = new FailureLimiter({ maxFailures: 3 });
  // One host rotating through addresses of its /64 is still one limited unit.
  for (let i = 1; i <= 3; i++) limiter.take(`2001:db8:1:2::${i.toString(16)}`);
  expect(() => limiter.check('2001:db8:1:2:dead:beef:0:1')).toThrow(
    expect.objectContaining({ code: 'RATE_LIMITED' }),
  );
  expect(() => limiter.check('2001:db8:1:3::1')).not.toThrow();
});

test('take counts at once and refund gives an attempt back', () => {
  const limiter = new FailureLimiter({ maxFailures: 2 });
  limiter.take('10.0.0.1');
  limiter.take('10.0.0.1');
  expect(() => limiter.take('10.0.0.1')).toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
  limiter.refund('10.0.0.1');
  expect(() => limiter.take('10.0.0.1')).not.toThrow();
});
