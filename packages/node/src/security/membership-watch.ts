import { Library, Member, readActiveMembers } from '@tidemark/engine';
import type { Logger } from 'pino';

/** Default time for a `tidemark peer remove` (another process) to reach a running node. */
export const DEFAULT_MEMBERSHIP_CHECK_MS = 1_000;

/**
 * This node's view of the library's members, re-read from the database on a short interval so
 * that `tidemark peer remove` and `tidemark join` (other processes) take effect on a running node:
 * listeners update the TLS trust anchors and cut live streams of removed members.
 */
export class MembershipWatch {
  private byFingerprint = new Map<string, Member>();
  private signature: string | undefined;
  private readonly listeners: ((members: readonly Member[]) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  private constructor(
    private readonly library: Library,
    private readonly logger: Logger,
  ) {}

  static async start(library: Library, intervalMs: number, logger: Logger): Promise<MembershipWatch> {
    const watch = new MembershipWatch(library, logger);
    await watch.refresh();
    watch.timer = setInterval(() => {
      watch.refresh().catch((error: unknown) => logger.warn({ err: error }, 'could not re-read members'));
    }, intervalMs);
    watch.timer.unref();
    return watch;
  }

  get members(): readonly Member[] {
    return [...this.byFingerprint.values()];
  }

  memberByFingerprint(fingerprint: string): Member | undefined {
    return this.byFingerprint.get(fingerprint);
  }

  isMember(deviceId: string): boolean {
    return this.members.some((member) => member.deviceId === deviceId);
  }

  /** Called with the active members after every change (not at start). */
  onChange(listener: (members: readonly Member[]) => void): void {
    this.listeners.push(listener);
  }

  /** Re-reads the members now (after a pairing, and on the interval). */
  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async read(): Promise<void> {
    const active = await readActiveMembers(this.library);
    const signature = active.map((member) => member.fingerprint).join(',');
    if (signature === this.signature) return;
    const first = this.signature === undefined;
    this.signature = signature;
    this.byFingerprint = new Map(active.map((member) => [member.fingerprint, member]));
    if (first) return;
    this.logger.info({ members: active.map((member) => member.deviceId) }, 'library members changed');
    for (const listener of this.listeners) listener(active);
  }
}
