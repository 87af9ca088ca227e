import { Library, Member, readMembers } from '@tidemark/engine';
import type { Logger } from 'pino';
import { auditTime, Subscription } from 'rxjs';

/** Default time for a `tidemark peer remove` (another process) to reach a running node. */
export const DEFAULT_MEMBERSHIP_CHECK_MS = 1_000;

/**
 * After a commit, members are re-read at most this often: a backfill commits many batches a
 * second, and a membership change synced among them is still seen within this time.
 */
const AFTER_COMMIT_MS = 100;

/**
 * This node's view of the library's members, re-read from the database after every commit
 * (a synced membership change, a pairing, a `tidemark peer remove` in another process) and on a
 * short interval (a local change that commits no row): listeners update the TLS trust anchors,
 * cut live streams of removed members and reconnect to new ones.
 */
export class MembershipWatch {
  private byFingerprint = new Map<string, Member>();
  /** Members removed for good: a caller presenting one of their certificates is told so. */
  private removedByFingerprint = new Map<string, Member>();
  private signature: string | undefined;
  private readonly listeners: ((members: readonly Member[]) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private commits: Subscription | undefined;
  /** The last read queued; `queued` while it has not started, so a new call can join it. */
  private reads: Promise<void> = Promise.resolve();
  private queued = false;

  private constructor(
    private readonly library: Library,
    private readonly logger: Logger,
  ) {}

  static async start(library: Library, intervalMs: number, logger: Logger): Promise<MembershipWatch> {
    const watch = new MembershipWatch(library, logger);
    await watch.refresh();
    const refresh = () =>
      watch.refresh().catch((error: unknown) => logger.warn({ err: error }, 'could not re-read members'));
    watch.timer = setInterval(refresh, intervalMs);
    watch.timer.unref();
    watch.commits = library.changes$.pipe(auditTime(AFTER_COMMIT_MS)).subscribe(() => void refresh());
    return watch;
  }

  get members(): readonly Member[] {
    return [...this.byFingerprint.values()];
  }

  memberByFingerprint(fingerprint: string): Member | undefined {
    return this.byFingerprint.get(fingerprint);
  }

  /** The removed member whose certificate has this fingerprint, if one was removed. */
  removedByFingerprintOf(fingerprint: string): Member | undefined {
    return this.removedByFingerprint.get(fingerprint);
  }

  isMember(deviceId: string): boolean {
    return this.members.some((member) => member.deviceId === deviceId);
  }

  /** Called with the active members after every change (not at start). */
  onChange(listener: (members: readonly Member[]) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Re-reads the members (after a pairing, a commit, and on the interval). Resolves after a read
   * that started after this call: a read already under way may have missed the change asked about.
   */
  refresh(): Promise<void> {
    if (!this.queued) {
      this.queued = true;
      this.reads = this.reads
        .catch(() => undefined)
        .then(() => {
          this.queued = false;
          return this.read();
        });
    }
    return this.reads;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.commits?.unsubscribe();
  }

  private async read(): Promise<void> {
    const all = await readMembers(this.library);
    const active = all.filter((member) => member.removedAtMs === undefined);
    this.removedByFingerprint = new Map(
      all.filter((member) => member.removedAtMs !== undefined).map((member) => [member.fingerprint, member]),
    );
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
