import { isIPv4, isIPv6 } from 'node:net';
import { TidemarkError } from '@tidemark/engine';

export interface FailureLimiterOptions {
  /** Failed attempts allowed per address within one window. Default 10. */
  readonly maxFailures?: number;
  /** Default 60 s. */
  readonly windowMs?: number;
  readonly now?: () => number;
}

/** Addresses tracked at most; beyond it, expired windows are pruned first, then the oldest. */
const MAX_TRACKED = 10_000;

/**
 * Rate limit on failed authentication per remote address: unknown certificates and wrong or
 * stale pairing secrets. It makes guessing an invite secret or probing for members slow, and
 * keeps the log readable when a misconfigured peer retries forever. Only calls that would fail
 * authentication are checked against it (see call-guard.ts), so members are never limited.
 */
export class FailureLimiter {
  private readonly windows = new Map<string, { count: number; startedAt: number }>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(options: FailureLimiterOptions = {}) {
    this.maxFailures = options.maxFailures ?? 10;
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Throws RATE_LIMITED while `host` has used up its failures for the current window. */
  check(host: string): void {
    const window = this.current(limitKeyOf(host));
    if (window && window.count >= this.maxFailures) {
      const retryInS = Math.ceil((window.startedAt + this.windowMs - this.now()) / 1000);
      throw new TidemarkError(
        'RATE_LIMITED',
        `too many failed attempts from ${host}; retry in ${retryInS} s`,
      );
    }
  }

  record(host: string): void {
    const key = limitKeyOf(host);
    const window = this.current(key);
    if (window) window.count += 1;
    else {
      if (this.windows.size >= MAX_TRACKED) this.prune();
      this.windows.set(key, { count: 1, startedAt: this.now() });
    }
  }

  /**
   * Checks and counts one attempt at once, synchronously: a handler that awaits before it knows
   * the outcome must count first, or parallel attempts all pass the check before any is
   * counted. `refund` gives the attempt back when it turns out not to be a failure that counts.
   */
  take(host: string): void {
    this.check(host);
    this.record(host);
  }

  refund(host: string): void {
    const window = this.current(limitKeyOf(host));
    if (window && window.count > 0) window.count -= 1;
  }

  private current(host: string): { count: number; startedAt: number } | undefined {
    const window = this.windows.get(host);
    if (window && this.now() - window.startedAt >= this.windowMs) {
      this.windows.delete(host);
      return undefined;
    }
    return window;
  }

  private prune(): void {
    for (const host of [...this.windows.keys()]) this.current(host);
    if (this.windows.size >= MAX_TRACKED) this.windows.delete(this.windows.keys().next().value as string);
  }
}

/** The address part of grpc-js `call.getPeer()` ("1.2.3.4:5678", "[::1]:5678"), without the port. */
export function hostOfPeer(peer: string): string {
  const match = /^(?:ipv[46]:)?\[?([^\]]*?)\]?:\d+$/.exec(peer);
  return match ? match[1] : peer;
}

/**
 * The unit an address is limited by: an IPv4 address, or the /64 of an IPv6 address (one
 * subscriber's network: a host picks any address in its /64, so counting single IPv6 addresses
 * would let it rotate past the limit). An IPv4-mapped IPv6 address counts as its IPv4 address.
 */
export function limitKeyOf(host: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped && isIPv4(mapped[1])) return mapped[1];
  if (!isIPv6(host)) return host;
  return `${expandIPv6(host).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, as lowercase hex without leading zeros. */
function expandIPv6(host: string): string[] {
  const address = host.split('%')[0];
  let text = address;
  // An embedded IPv4 tail (::1.2.3.4) is two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((group) => parseInt(group, 16).toString(16));
}
