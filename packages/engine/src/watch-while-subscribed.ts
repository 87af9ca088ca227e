import { Observable } from 'rxjs';

/**
 * The lifetime of a watch shared by several streams (a commit watch's per-type and library-wide
 * heads): started by the first subscriber to any of them, stopped with the last, so an unfollowed
 * library runs no watch, poll or listening connection.
 */
export class WatchWhileSubscribed {
  private users = 0;
  private stop: (() => void) | undefined;

  /** `start` begins watching and returns what stops it. */
  constructor(private readonly start: () => () => void) {}

  /** Subscriptions open now, over every stream. */
  get subscribers(): number {
    return this.users;
  }

  /** True while the watch runs (a read that finishes after the stop is stale). */
  get running(): boolean {
    return this.stop !== undefined;
  }

  /** `source`, keeping the watch running while it is subscribed. */
  using<T>(source: Observable<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      const subscription = source.subscribe(subscriber);
      if (this.users++ === 0) this.stop = this.start();
      return () => {
        subscription.unsubscribe();
        if (--this.users === 0) {
          this.stop?.();
          this.stop = undefined;
        }
      };
    });
  }
}
