import type { ReconnectPolicy } from '../config';

/**
 * Delay before retry number `failures` (1-based): exponential from `initialMs`, capped at
 * `maxMs`, with "equal jitter" (half fixed, half random). The random half spreads out the
 * reconnects of many nodes after a shared outage; the fixed half keeps a delay from collapsing
 * to ~0 and hammering a peer that is still down.
 */
export function backoffDelay(
  failures: number,
  policy: ReconnectPolicy,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The longest jittered delay: for failures that retrying soon cannot fix. */
export function maxBackoffDelay(policy: ReconnectPolicy, random: () => number = Math.random): number {
  return Math.round(policy.maxMs / 2 + (random() * policy.maxMs) / 2);
}
