import type * as pg from 'pg';
import { Observable, share, Subject } from 'rxjs';
import { HeadReads } from './commit-watch';
import { TidemarkError } from './errors';
import { WatchWhileSubscribed } from './watch-while-subscribed';
import type { CommitAnnouncement } from './store/postgres-database';

export interface ListenWatchOptions {
  /** Opens a connection that LISTENs to the library's channel and calls back per announcement. */
  readonly listen: (onAnnouncement: (announcement: CommitAnnouncement) => void) => Promise<pg.Client>;
  /** Reads the highest committed seq. */
  readonly readHead: () => Promise<number>;
  /** The slow poll that recovers commits announced while the listening connection was down. */
  readonly fallbackPollMs: number;
  /** False: no LISTEN, the poll alone. */
  readonly notifications: boolean;
  /** Told when the listening connection cannot be opened or drops (the poll goes on). */
  readonly onWatchError?: (error: TidemarkError) => void;
}

/**
 * Wakes follow streams on commits of every process writing a PostgreSQL library. Each write
 * transaction NOTIFYs the library's channel with its head and the resource types it wrote
 * (store/postgres-database.ts); PostgreSQL delivers that at commit, to every listening
 * connection. One listening connection per process, open only while someone follows, hands each
 * announcement to the streams of the types it names and to nobody else: a commit of entries
 * does not wake the tag streams. The poll (and a reconnect) reads the head and, when it moved
 * without an announcement, wakes every stream, since it cannot tell which types moved.
 */
export class ListenWatch {
  /** Heads of every commit learned of by announcement or poll. Hot while subscribed. */
  readonly heads$: Observable<number>;
  private readonly byType = new Map<string, Subject<number>>();
  private readonly all = new Subject<number>();
  private readonly lifetime = new WatchWhileSubscribed(() => this.watch());
  private known = 0;

  constructor(private readonly options: ListenWatchOptions) {
    this.heads$ = this.lifetime.using(this.all).pipe(share());
  }

  /** Heads of commits that wrote `type` (and of commits whose types are unknown). */
  headsOf$(type: string): Observable<number> {
    let subject = this.byType.get(type);
    if (!subject) this.byType.set(type, (subject = new Subject<number>()));
    return this.lifetime.using(subject);
  }

  /**
   * A commit made through this process took the seqs (base, head]: the poll need not report it
   * again. Only when nothing is unaccounted for below it: a commit of another process that no
   * announcement reported (LISTEN down or off) may lie between `known` and `base`, and only the
   * poll can still wake its followers (it cannot tell which types it wrote).
   */
  saw(head: number, base?: number): void {
    if (base !== undefined && base <= this.known && head > this.known) this.known = head;
  }

  /** Follow streams subscribed now, over every type. */
  get subscribers(): number {
    return this.lifetime.subscribers;
  }

  private announce(announcement: CommitAnnouncement): void {
    if (announcement.head > this.known) this.known = announcement.head;
    for (const type of announcement.types) this.byType.get(type)?.next(announcement.head);
    this.all.next(announcement.head);
  }

  /**
   * The head moved without an announcement we saw: any type may have moved. `force`: commits may
   * have gone unannounced below `known` (made before LISTEN took effect, while a later commit's
   * announcement raised `known`), so every stream is told the head anyway; one that already
   * read up to it reads nothing.
   */
  private wakeEveryone(head: number, force = false): void {
    if (head <= this.known && !force) return;
    if (head > this.known) this.known = head;
    for (const subject of this.byType.values()) subject.next(head);
    this.all.next(head);
  }

  private watch(): () => void {
    const { fallbackPollMs } = this.options;
    let stopped = false;
    let client: pg.Client | undefined;
    let connecting = false;
    let failed = false;
    const reads = new HeadReads(this.options.readHead, (head) => this.wakeEveryone(head));

    const report = (error: Error) => {
      if (failed) return;
      failed = true;
      this.options.onWatchError?.(
        new TidemarkError(
          'STORAGE',
          `cannot LISTEN for commits of other processes (${error.message}); they are seen within ${fallbackPollMs} ms instead`,
          { cause: error },
        ),
      );
    };
    const connect = async () => {
      if (connecting || client || stopped) return;
      connecting = true;
      try {
        const opened = await this.options.listen((announcement) => this.announce(announcement));
        if (stopped) {
          await opened.end().catch(() => undefined);
          return;
        }
        client = opened;
        failed = false;
        opened.on('error', (error: Error) => {
          report(error);
          if (client === opened) client = undefined;
          void opened.end().catch(() => undefined);
        });
        // Commits announced while no connection listened: read the head once, and wake every
        // stream with it even when announcements since LISTEN already reached it.
        void this.options
          .readHead()
          .then((head) => {
            if (!stopped) this.wakeEveryone(head, true);
          })
          .catch(() => undefined);
      } catch (error) {
        report(error as Error);
      } finally {
        connecting = false;
      }
    };

    const { notifications } = this.options;
    if (notifications) void connect();
    const poll = setInterval(() => {
      if (notifications && !client) void connect();
      void reads.look();
    }, fallbackPollMs);
    void reads.look();

    return () => {
      stopped = true;
      reads.stop();
      clearInterval(poll);
      void client?.end().catch(() => undefined);
      client = undefined;
    };
  }
}
