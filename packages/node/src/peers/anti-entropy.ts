import {
  compareWithPeer,
  Library,
  recordDigestChecks,
  ResourceName,
  SyncTransport,
  TypeComparison,
} from '@tidemark/engine';

export interface AntiEntropyPolicy {
  /** Compare again this long after the previous comparison, while the session lasts. */
  readonly intervalMs: number;
  /**
   * A difference is compared once more after this long before it is reported: rows written on
   * either side while the first comparison ran make a difference that the follow stream closes.
   */
  readonly confirmDelayMs: number;
}

export const DEFAULT_ANTI_ENTROPY: AntiEntropyPolicy = { intervalMs: 10 * 60_000, confirmDelayMs: 5_000 };

export interface DigestCheckResult {
  readonly results: readonly TypeComparison[];
  readonly differing: readonly ResourceName[];
}

/**
 * Anti-entropy with one peer: per-type digests compared after the backfill and then at an
 * interval, so that rows a cursor skipped (a peer restored from a backup older than what it had
 * served, a bug) do not go unnoticed until someone runs `verify`. The result is stored for
 * `doctor` and reported through `report`; fixing is `tidemark repair`'s job, which a person runs.
 */
export class AntiEntropy {
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private stopped = false;
  private running = false;

  constructor(
    private readonly library: Library,
    private readonly transport: Pick<SyncTransport, 'digest'>,
    private readonly peerDeviceId: string,
    private readonly policy: AntiEntropyPolicy,
    private readonly report: (result: DigestCheckResult) => void,
  ) {}

  /** Compares now (once the backfill is done), then every interval. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.cycle();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
  }

  private async cycle(): Promise<void> {
    try {
      const result = await this.compare();
      if (result && !this.stopped) {
        await recordDigestChecks(this.library, this.peerDeviceId, result.results);
        this.report(result);
      }
    } catch {
      // The connection failed under the comparison; the session reports that and reconnects,
      // and the next session compares again after its backfill.
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.cycle(), this.policy.intervalMs);
  }

  private async compare(): Promise<DigestCheckResult | undefined> {
    const first = await compareWithPeer(this.library, this.transport);
    const differing = first.filter((result) => !result.equal).map((result) => result.resourceType);
    if (differing.length === 0) return { results: first, differing };
    await this.delay(this.policy.confirmDelayMs);
    if (this.stopped) return undefined;
    const again = await compareWithPeer(this.library, this.transport, { names: differing });
    const byType = new Map(again.map((result) => [result.resourceType, result]));
    const results = first.map((result) => byType.get(result.resourceType) ?? result);
    return {
      results,
      differing: results.filter((result) => !result.equal).map((result) => result.resourceType),
    };
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }
}
