import { TidemarkError } from '@tidemark/engine';
import { formatHostPort, parseHostPort } from './address';
import { backoffDelay, maxBackoffDelay } from './peers/backoff';
import { resolveConfig } from './config';
import { startNode } from './node';

const base = { libraryFile: '/nonexistent/library.db', listen: '127.0.0.1:0', insecure: true };

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof TidemarkError ? error.code : 'not a TidemarkError';
  }
  return undefined;
}

test('startNode refuses --insecure on anything but loopback addresses', async () => {
  const refused = startNode({ ...base, listen: '0.0.0.0:0' });
  await expect(refused).rejects.toBeInstanceOf(TidemarkError);
  await expect(refused).rejects.toMatchObject({
    code: 'INVALID_ARGUMENT',
    message: expect.stringContaining('loopback'),
  });
  expect(() => resolveConfig({ ...base, peers: ['192.168.1.2:7400'] })).toThrow(/loopback addresses only/);
  expect(resolveConfig({ ...base, listen: '[::1]:0', peers: ['localhost:1', '127.0.0.2:2'] }).insecure).toBe(
    true,
  );
  // Without --insecure (TLS) any address is fine.
  expect(resolveConfig({ ...base, insecure: false, listen: '0.0.0.0:0' }).insecure).toBe(false);
});

test('config errors are INVALID_ARGUMENT and name the bad value', () => {
  expect(codeOf(() => resolveConfig({ ...base, listen: 'localhost' }))).toBe('INVALID_ARGUMENT');
  expect(codeOf(() => resolveConfig({ ...base, listen: '127.0.0.1:70000' }))).toBe('INVALID_ARGUMENT');
  expect(codeOf(() => resolveConfig({ ...base, peers: ['a:1', 'a:1'] }))).toBe('INVALID_ARGUMENT');
  expect(codeOf(() => resolveConfig({ ...base, peers: ['nope'] }))).toBe('INVALID_ARGUMENT');
  expect(codeOf(() => resolveConfig({ ...base, batchSize: -1 }))).toBe('INVALID_ARGUMENT');
  expect(codeOf(() => resolveConfig({ ...base, maxDriftMs: 0 }))).toBe('INVALID_ARGUMENT');
  for (const fallbackPollMs of [0, 1.5, 2 ** 31])
    expect(codeOf(() => resolveConfig({ ...base, fallbackPollMs }))).toBe('INVALID_ARGUMENT');
  for (const databaseConnections of [0, 1, 2.5, 1001])
    expect(codeOf(() => resolveConfig({ ...base, databaseConnections }))).toBe('INVALID_ARGUMENT');
  expect(resolveConfig({ ...base, databaseConnections: 2 }).databaseConnections).toBe(2);
  for (const relayHoldMs of [-1, 0.5, 2 ** 31])
    expect(codeOf(() => resolveConfig({ ...base, relayHoldMs }))).toBe('INVALID_ARGUMENT');
  expect(resolveConfig(base).relayHoldMs).toBe(1_000);
  expect(resolveConfig({ ...base, relayHoldMs: 0 }).relayHoldMs).toBe(0);
  expect(codeOf(() => resolveConfig({ ...base, reconnect: { initialMs: 500, maxMs: 100 } }))).toBe(
    'INVALID_ARGUMENT',
  );
  expect(() => resolveConfig({ ...base, metrics: 'x' })).toThrow(/metrics address "x"/);
  expect(resolveConfig(base).reconnect).toEqual({ initialMs: 200, maxMs: 10_000 });
  expect(resolveConfig({ ...base, reconnect: { initialMs: 20_000 } }).reconnect).toEqual({
    initialMs: 20_000,
    maxMs: 20_000,
  });
});

test('HOST:PORT parsing keeps IPv6 brackets round trip', () => {
  expect(parseHostPort('[::1]:7070', 'x')).toEqual({ host: '::1', port: 7070 });
  expect(formatHostPort(parseHostPort('[::1]:7070', 'x'))).toBe('[::1]:7070');
  expect(formatHostPort(parseHostPort('node-a.local:0', 'x'))).toBe('node-a.local:0');
});

test('backoff grows exponentially with jitter and stays within the cap', () => {
  const policy = { initialMs: 200, maxMs: 10_000 };
  expect(backoffDelay(1, policy, () => 0)).toBe(100);
  expect(backoffDelay(1, policy, () => 1)).toBe(200);
  expect(backoffDelay(4, policy, () => 1)).toBe(1_600);
  expect(backoffDelay(50, policy, () => 1)).toBe(10_000);
  expect(backoffDelay(50, policy, () => 0)).toBe(5_000);
  expect(maxBackoffDelay(policy, () => 0.5)).toBe(7_500);
});
