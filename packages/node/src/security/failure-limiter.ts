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
    const window = this.current(host);
    if (window && window.count >= this.maxFailures) {
      const retryInS = Math.ceil((window.startedAt + this.windowMs - this.now()) / 1000);
      throw new TidemarkError(
        'RATE_LIMITED',
        `too many failed attempts from ${host}; retry in ${retryInS} s`,
      );
    }
  }

  record(host: string): void {
    const window = this.current(host);
    if (window) window.count += 1;
    else {
      if (this.windows.size >= MAX_TRACKED) this.prune();
      this.windows.set(host, { count: 1, startedAt: this.now() });
    }
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
