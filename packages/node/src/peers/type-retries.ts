import { Library, ResourceName, SyncEvent, syncFromPeer$, SyncTransport } from '@tidemark/engine';
import { Subscription } from 'rxjs';
import { backoffDelay } from './backoff';
import type { ReconnectPolicy } from '../config';

export interface TypeRetriesOptions {
  readonly library: Library;
  readonly transport: SyncTransport;
  readonly batchSize: number;
  /** Send held prefixes to the peer (default true). */
  readonly originFilter?: boolean;
  readonly reconnect: ReconnectPolicy;
  readonly random: () => number;
  /** Receives the retries' `batch` and `type_failed` events. */
  readonly emit: (event: Extract<SyncEvent, { kind: 'batch' | 'type_failed' }>) => void;
}

/**
 * Re-pulls resource types whose batches were rejected (malformed record, HLC drift) while the
 * rest of the session goes on. The engine drops a failed type from its follow streams, so
 * without this a type would stay stuck until the next reconnect. Each type backs off on its
 * own; its watermark never moved, so a retry asks for exactly the rejected batch again.
 */
export class TypeRetries {
  private readonly failures = new Map<ResourceName, number>();
  private readonly timers = new Map<ResourceName, NodeJS.Timeout>();
  private readonly running = new Map<ResourceName, Subscription>();
  private stopped = false;

  constructor(private readonly options: TypeRetriesOptions) {}

  /** Called for every `type_failed`, from the main sync or from a retry. */
  failed(name: ResourceName): void {
    if (this.stopped || this.timers.has(name)) return;
    const failures = (this.failures.get(name) ?? 0) + 1;
    this.failures.set(name, failures);
    const delay = backoffDelay(failures, this.options.reconnect, this.options.random);
    this.timers.set(
      name,
      setTimeout(() => {
        this.timers.delete(name);
        this.start(name);
      }, delay),
    );
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    for (const subscription of this.running.values()) subscription.unsubscribe();
    this.timers.clear();
    this.running.clear();
  }

  private start(name: ResourceName): void {
    if (this.stopped) return;
    this.running.get(name)?.unsubscribe();
    const { library, transport, batchSize } = this.options;
    let rejected = false;
    const ended = () => {
      this.running.delete(name);
      // A retry ends only when its type was rejected again or the connection broke; either
      // way, try again later (a broken connection also restarts the whole session).
      if (!rejected) this.failed(name);
    };
    const subscription = syncFromPeer$(library, transport, {
      types: [name],
      follow: true,
      batchSize,
      originFilter: this.options.originFilter,
    }).subscribe({
      next: (event) => {
        if (event.kind === 'batch') {
          this.failures.delete(name);
          this.options.emit(event);
        } else if (event.kind === 'type_failed') {
          rejected = true;
          this.options.emit(event);
          this.failed(name);
        }
      },
      error: ended,
      complete: ended,
    });
    if (!subscription.closed) this.running.set(name, subscription);
  }
}
