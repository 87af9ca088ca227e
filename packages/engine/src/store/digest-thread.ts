import { ResourceDigest } from '@tidemark/proto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { TidemarkError, TidemarkErrorCode } from '../errors';
import type { ResourceName } from '../resource-types';

/** What `digestResource` takes, less the SQL runner: the thread has its own connection. */
export interface DigestScanOptions {
  readonly excludeOrigins?: readonly string[];
  readonly signal?: AbortSignal;
}

/** Parent to thread. */
export type DigestThreadMessage =
  | {
      readonly kind: 'digest';
      readonly id: number;
      readonly name: ResourceName;
      readonly excludeOrigins: string[];
    }
  | { readonly kind: 'cancel'; readonly id: number }
  | { readonly kind: 'close' };

/** Thread to parent. */
export type DigestReply =
  | { readonly kind: 'digest'; readonly id: number; readonly digest: ResourceDigest }
  | {
      readonly kind: 'error';
      readonly id: number;
      readonly code: TidemarkErrorCode;
      readonly message: string;
    };

/**
 * A scan holds one page of short columns (uuid, hlc, origin, seq; ~2 MB for 5,000 rows). Small
 * heaps keep the thread's garbage small: digesting every type of a 200,000-entry library twice
 * raised the process's peak RSS by 45-49 MB with 64/16 MB, 28 MB with 16/2 MB (an in-thread digest:
 * 38 MB), in no more time.
 */
const THREAD_LIMITS = { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 };
/** How long close() lets the thread finish its current page before it is stopped. */
const CLOSE_GRACE_MS = 5_000;
/** A thread with no digest for this long ends; anti-entropy compares every ten minutes. */
const DEFAULT_IDLE_MS = 30_000;

function workerFile(): string {
  const compiled = path.join(__dirname, 'digest-worker.js');
  // Run from the TypeScript sources (tests), the thread still needs JavaScript: the built copy.
  return fs.existsSync(compiled) ? compiled : path.resolve(__dirname, '../../dist/store/digest-worker.js');
}

interface Pending {
  readonly resolve: (digest: ResourceDigest) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Digests of one SQLite library, computed on a worker thread with a read-only connection of
 * its own. A digest reads and hashes every row of a type, page by page. On the event loop, each
 * page held the loop for 5-25 ms, and every statement of an apply transaction (about 40 trips
 * between the loop and SQLite's threads) could wait behind one: a follow batch applied during a
 * digest took 150-300 ms instead of 1-5 (docs/architecture.md, "Digests off the event loop").
 *
 * The thread starts with the first digest and ends after `idleMs` without one, so a node that
 * compares every ten minutes holds no thread (and no connection) in between. It is referenced
 * only while a digest is pending, so it never keeps a process alive by itself.
 */
export class DigestThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Threads told to end (idle, or closing) that have not exited yet. */
  private readonly ending = new Set<Promise<void>>();

  constructor(
    private readonly file: string,
    private readonly busyTimeoutMs: number,
    private readonly idleMs = DEFAULT_IDLE_MS,
  ) {}

  /** Whether a thread is running now (tests). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  digest(name: ResourceName, options: DigestScanOptions = {}): Promise<ResourceDigest> {
    if (this.closed) return Promise.reject(new TidemarkError('CLOSED', 'the library is closed'));
    if (options.signal?.aborted) return Promise.reject(cancelled());
    clearTimeout(this.idleTimer);
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    const onAbort = () => worker.postMessage({ kind: 'cancel', id } satisfies DigestThreadMessage);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise<ResourceDigest>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({
        kind: 'digest',
        id,
        name,
        excludeOrigins: [...(options.excludeOrigins ?? [])],
      } satisfies DigestThreadMessage);
    }).finally(() => options.signal?.removeEventListener('abort', onAbort));
  }

  /** Rejects the digests still pending (CLOSED) and waits until the thread let go of the file. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      clearTimeout(this.idleTimer);
      this.settleAll(new TidemarkError('CLOSED', 'the library is closed'));
      this.end();
    }
    await Promise.all(this.ending);
  }

  private start(): Worker {
    const worker = new Worker(workerFile(), {
      workerData: { file: this.file, busyTimeoutMs: this.busyTimeoutMs },
      resourceLimits: THREAD_LIMITS,
    });
    worker.on('message', (reply: DigestReply) => this.answered(reply));
    worker.on('error', (error) => {
      if (this.worker === worker) this.failed(error);
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.failed(new Error(`it exited with code ${code}`));
    });
    return worker;
  }

  private answered(reply: DigestReply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0 && this.worker) {
      this.worker.unref();
      this.idleTimer = setTimeout(() => this.end(), this.idleMs);
      this.idleTimer.unref();
    }
    if (reply.kind === 'digest') {
      // Structured cloning turns the Buffer into a plain Uint8Array.
      waiting.resolve({ ...reply.digest, hash: Buffer.from(reply.digest.hash) });
    } else {
      waiting.reject(new TidemarkError(reply.code, reply.message));
    }
  }

  /** Tells the thread to close its connection and end; the next digest starts a new one. */
  private end(): void {
    const worker = this.worker;
    if (!worker || this.pending.size > 0) return;
    this.worker = undefined;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ kind: 'close' } satisfies DigestThreadMessage);
    const grace = setTimeout(() => void worker.terminate(), CLOSE_GRACE_MS);
    const ended = exited.then(() => clearTimeout(grace));
    this.ending.add(ended);
    void ended.then(() => this.ending.delete(ended));
  }

  /** The thread died (out of memory, say): what it was doing fails, the next digest starts a new one. */
  private failed(error: Error): void {
    const worker = this.worker;
    this.worker = undefined;
    clearTimeout(this.idleTimer);
    void worker?.terminate();
    this.settleAll(
      new TidemarkError('STORAGE', `the digest thread failed: ${error.message}`, { cause: error }),
    );
  }

  private settleAll(error: TidemarkError): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const { reject } of waiting) reject(error);
  }
}

function cancelled(): TidemarkError {
  return new TidemarkError('UNAVAILABLE', 'the digest was cancelled by its caller');
}
