/**
 * Shared page reads (docs/architecture.md, "Shared page reads"). A hub follows one library to
 * hundreds of devices: every commit of a type wakes each of their streams of that type, and
 * nearly all of them stand at the same cursor with the same filter, so each would read the same
 * page. Here streams whose request is the same (the key: type, epoch, cursor seq, batch size,
 * held filter) share one read: a request joins a read in flight, or takes one read a moment ago
 * that is kept in a small bounded cache.
 *
 * When a shared read is right for a request: a stream asks for a page after a head it knows was
 * visible (`head`), and must get every row up to that head (serve.ts, `waitForCommit`). A read
 * carries the head of the request that started it; it is read after that head was visible, so
 * it holds everything up to it. A request may use it only when its own head is not above that:
 * a request that knows of a later commit starts a read of its own, which sees that commit. A
 * page taken that way is the one the request would have read alone a moment earlier, with its
 * head already visible: a row updated since has moved beyond the page and comes in a later one,
 * as it would for a reader that read then.
 */

import { StateBatch } from '@tidemark/proto';
import type { HeldPrefix } from './origin-prefixes';
import type { HeldByLineage, ResourcePage } from './serve';

/** Pages kept after their read, and what they may hold together (estimated, see `bytes`). */
export const SHARED_PAGES_KEPT = 64;
export const SHARED_PAGES_MAX_BYTES = 8 * 1024 * 1024;
/** A page estimated above this is shared only while it is being read, never kept. */
export const SHARED_PAGE_MAX_KEPT_BYTES = 1024 * 1024;

export interface SharedReadCounts {
  /** Reads made (each a page read of the database). */
  readonly reads: number;
  /** Requests served by another request's read, in flight or kept. */
  readonly shared: number;
}

interface Entry<T> {
  /** The head of the request that started the read: it holds everything up to it. */
  readonly head: number;
  readonly value: Promise<T>;
  bytes: number;
  done: boolean;
}

/**
 * Single-flight reads with a small cache of the latest, per key. One instance per library and
 * process; `T` is whatever one read yields (serve.ts: a page and what is read with it).
 */
export class SharedReads<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private keptBytes = 0;
  private counts = { reads: 0, shared: 0 };

  constructor(
    private readonly options: {
      readonly kept?: number;
      readonly maxBytes?: number;
      readonly maxKeptBytes?: number;
    } = {},
  ) {}

  get readCounts(): SharedReadCounts {
    return { ...this.counts };
  }

  /**
   * The value for `key` read after `head` was visible: a read in flight or kept whose head is at
   * least `head`, else a new `load()`. `bytes` estimates a loaded value's size, for the bound.
   */
  read(key: string, head: number, load: () => Promise<T>, bytes: (value: T) => number): Promise<T> {
    const found = this.entries.get(key);
    if (found && found.head >= head) {
      this.counts.shared += 1;
      if (found.done) {
        // Most recently used last: the oldest is evicted first.
        this.entries.delete(key);
        this.entries.set(key, found);
      }
      return found.value;
    }
    this.counts.reads += 1;
    const entry: Entry<T> = { head, value: load(), bytes: 0, done: false };
    this.replace(key, entry);
    entry.value.then(
      (value) => {
        if (this.entries.get(key) !== entry) return;
        entry.done = true;
        entry.bytes = bytes(value);
        if (entry.bytes > (this.options.maxKeptBytes ?? SHARED_PAGE_MAX_KEPT_BYTES)) {
          this.entries.delete(key);
          return;
        }
        this.keptBytes += entry.bytes;
        this.evict();
      },
      () => {
        // A failed read is never handed to a later request; those that joined it get its error,
        // as they would have reading alone.
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry.value;
  }

  private replace(key: string, entry: Entry<T>): void {
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      if (old.done) this.keptBytes -= old.bytes;
    }
    this.entries.set(key, entry);
  }

  private evict(): void {
    const kept = this.options.kept ?? SHARED_PAGES_KEPT;
    const maxBytes = this.options.maxBytes ?? SHARED_PAGES_MAX_BYTES;
    let done = 0;
    for (const entry of this.entries.values()) if (entry.done) done += 1;
    for (const [key, entry] of this.entries) {
      if (done <= kept && this.keptBytes <= maxBytes) return;
      if (!entry.done) continue;
      this.entries.delete(key);
      this.keptBytes -= entry.bytes;
      done -= 1;
    }
  }
}

/** One page and what a stream reads with it, as streams share it (serve.ts). */
export interface SharedPage {
  /** The type's held prefixes, read before the page (Checkpoint.covered once caught up). */
  readonly covered: readonly HeldPrefix[];
  readonly page: ResourcePage;
  /** The commit id of the page's last seq: read once, when a stream first sends the page. */
  commitId(): Promise<string>;
  /** The page's origin seqs and epochs on the wire: worked out once, when first sent. */
  origins(): Promise<Pick<StateBatch, 'recordOriginSeqs' | 'recordOriginEpochs' | 'originEpochs'>>;
}

/** What decides a page's content besides the database: equal keys, equal pages. */
export function sharedPageKey(
  name: string,
  epoch: string,
  afterSeq: number,
  limit: number,
  held: HeldByLineage,
): string {
  const filter = [...held]
    .sort(([a], [b]) => a - b)
    .map(([lineage, seq]) => `${lineage}:${seq}`)
    .join(',');
  return `${name} ${epoch} ${afterSeq} ${limit} ${filter}`;
}

/** A rough size of a page in memory, for the cache's bound: strings by length, the rest flat. */
export function estimatedPageBytes({ covered, page }: SharedPage): number {
  let bytes = 512 + covered.length * 128 + page.tombstones.length * 256;
  for (const record of page.records) {
    bytes += 128;
    const value = record.kind?.value as unknown as Record<string, unknown> | undefined;
    if (!value) continue;
    for (const field of Object.values(value)) bytes += typeof field === 'string' ? 2 * field.length + 32 : 32;
  }
  return bytes;
}

const perLibrary = new WeakMap<object, SharedReads<SharedPage>>();

/** The shared page reads of one open library (the `Library` object) in this process. */
export function sharedPageReadsOf(library: object): SharedReads<SharedPage> {
  let reads = perLibrary.get(library);
  if (!reads) perLibrary.set(library, (reads = new SharedReads<SharedPage>()));
  return reads;
}

/** A function of no arguments run once, when first called; later calls share its promise. */
export function once<T>(run: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => (result ??= run());
}
