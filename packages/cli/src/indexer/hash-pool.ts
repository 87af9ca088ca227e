import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ContentDigest, hashContent } from './content-hash';
import { mapLimit } from './map-limit';
import { tickFor } from './timestamp-ticks';

/** @internal The message a hashing thread receives. */
export interface HashRequest {
  readonly id: number;
  readonly files: readonly string[];
}
/** @internal Why a file could not be hashed: the index of the file in its request, and the error. */
export interface HashFailure {
  readonly index: number;
  readonly error: string;
  readonly code?: string;
}
/**
 * @internal The message a hashing thread answers with. The digests are one text, a line per file
 * (`hash size mime`, empty where the file failed): passed between threads, an object per file
 * cost several times as much as the text (structured clone writes every key of every object).
 */
export interface HashResponse {
  readonly id: number;
  readonly digests: string;
  readonly failures: readonly HashFailure[];
}

/**
 * One line of `HashResponse.digests`: the sha256 hex, the size, the mtime, when the read began,
 * 1 for a whole-second mtime (else 0), the MIME type (never a space in any).
 */
export function digestLine(digest: ContentDigest): string {
  const whole = digest.wholeSecondMtime ? 1 : 0;
  return `${digest.hash} ${digest.sizeBytes} ${digest.modifiedAtMs} ${digest.readFromMs} ${whole} ${digest.mimeType}`;
}

/** The digests or errors of one response, in the order of its request's files. */
export function resultsOf(response: HashResponse): (ContentDigest | Error)[] {
  const results: (ContentDigest | Error)[] = response.digests.split('\n').map((line) => {
    const sizeEnd = line.indexOf(' ', HEX_SHA256 + 1);
    const modifiedEnd = line.indexOf(' ', sizeEnd + 1);
    const readFromEnd = line.indexOf(' ', modifiedEnd + 1);
    return {
      hash: line.slice(0, HEX_SHA256),
      sizeBytes: Number(line.slice(HEX_SHA256 + 1, sizeEnd)),
      modifiedAtMs: Number(line.slice(sizeEnd + 1, modifiedEnd)),
      readFromMs: Number(line.slice(modifiedEnd + 1, readFromEnd)),
      wholeSecondMtime: line.charCodeAt(readFromEnd + 1) === ONE,
      mimeType: line.slice(readFromEnd + 3),
    };
  });
  for (const failure of response.failures) results[failure.index] = errorOf(failure);
  return results;
}

const HEX_SHA256 = 64;
const ONE = '1'.charCodeAt(0);

/** Files per message: one message per file would cost more than hashing a small file. */
const FILES_PER_REQUEST = 64;
/**
 * A hashing thread holds one file (at most 1 MiB read whole) and 32 digests at a time; V8's
 * default young generation for it (as large as the main thread's) is mostly garbage space.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };
/** Files hashed at once on the main thread, when there are no hashing threads. */
const MAIN_THREAD_CONCURRENCY = 8;
/**
 * Files a run hashes on the main thread before it starts threads: a re-index that finds a few
 * changed files (or a `node --watch` run) is done before threads would pay off, and each thread
 * is an isolate of its own (~15 MB of RSS). A batch with more than this starts them at once.
 */
const MAIN_THREAD_FILES_BEFORE_THREADS = 2_000;

/** Hashing threads by default: one per core, the main thread walking and writing alongside. */
export function defaultHashThreads(): number {
  return Math.max(1, Math.min(8, os.availableParallelism()));
}

function workerFile(): string {
  const compiled = path.join(__dirname, 'hash-worker.js');
  // Run from the TypeScript sources (tests), the thread still needs JavaScript: the built copy.
  return fs.existsSync(compiled) ? compiled : path.resolve(__dirname, '../../dist/indexer/hash-worker.js');
}

function errorOf(failure: HashFailure): Error {
  return Object.assign(new Error(failure.error), failure.code ? { code: failure.code } : {});
}

interface Request {
  readonly files: readonly string[];
  readonly resolve: (results: (ContentDigest | Error)[]) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Hashes files on worker threads, so that hashing uses every core. Each thread works on one
 * request at a time; requests wait in a queue bounded by what the caller has in flight (the
 * indexer: one write batch).
 *
 * A file whose mtime is within the file system's timestamp tick of the moment its read began is
 * read again once that tick has passed (git's "racily clean" entries; a whole-second mtime gets a
 * coarse file system's tick, timestamp-ticks.ts): a write just after the read,
 * within the same tick, leaves size and mtime as they were, so every later run would take the file
 * for unchanged and keep the content read before that write, for good. Read again after the
 * tick, a file whose mtime is still the same has the content read; one written meanwhile has a
 * later mtime than the walk recorded, so the next run reads it again.
 */
export class HashPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Request[] = [];
  private readonly busy = new Map<Worker, Request>();
  private nextId = 0;
  private failure: Error | undefined;
  private mainThreadBudget = MAIN_THREAD_FILES_BEFORE_THREADS;
  /** Files read a second time because their mtime was within a tick of their first read. */
  readAgain = 0;

  /**
   * `threads` 0 hashes on the main thread (small trees, and where fs calls are to be observed).
   * `timestampTickMs`: the file system's timestamp granularity (volume.ts), 0 to read no file again.
   */
  constructor(
    private readonly threads: number = defaultHashThreads(),
    private readonly timestampTickMs = 0,
  ) {}

  /** Threads start on the first file to hash: a re-index that finds nothing changed pays for none. */
  private start(): void {
    if (this.workers.length > 0) return;
    for (let i = 0; i < this.threads; i++) {
      const worker = new Worker(workerFile(), { resourceLimits: WORKER_LIMITS });
      worker.on('message', (response: HashResponse) => this.answered(worker, response));
      worker.on('error', (error) => this.failed(error));
      worker.on('exit', (code) => {
        if (code !== 0) this.failed(new Error(`a hashing thread exited with code ${code}`));
      });
      this.workers.push(worker);
      this.idle.push(worker);
    }
  }

  /** A digest or the error for each file, in order. */
  async hash(files: readonly string[]): Promise<(ContentDigest | Error)[]> {
    const results = await this.hashOnce(files);
    const racy: number[] = [];
    let until = 0;
    results.forEach((result, index) => {
      if (result instanceof Error || this.timestampTickMs === 0) return;
      // A whole-second mtime may be a coarse file system's, whatever its type (timestamp-ticks.ts).
      const tick = tickFor(result.wholeSecondMtime, this.timestampTickMs);
      // A future mtime beyond a tick is not racy: a write now would set an earlier one.
      if (Math.abs(result.readFromMs - result.modifiedAtMs) >= tick) return;
      racy.push(index);
      until = Math.max(until, result.modifiedAtMs + tick);
    });
    if (racy.length === 0) return results;
    const wait = until + 1 - Date.now();
    if (wait > 0) await new Promise((done) => setTimeout(done, wait));
    this.readAgain += racy.length;
    const again = await this.hashOnce(racy.map((index) => files[index]));
    racy.forEach((index, at) => (results[index] = again[at]));
    return results;
  }

  private async hashOnce(files: readonly string[]): Promise<(ContentDigest | Error)[]> {
    if (files.length === 0) return [];
    const inline = this.workers.length === 0 && files.length <= this.mainThreadBudget;
    if (inline) this.mainThreadBudget -= files.length;
    if (this.threads === 0 || inline) {
      return mapLimit(files, MAIN_THREAD_CONCURRENCY, (file) =>
        hashContent(file).catch((error: unknown) =>
          error instanceof Error ? error : new Error(String(error)),
        ),
      );
    }
    this.start();
    const chunks: Promise<(ContentDigest | Error)[]>[] = [];
    for (let start = 0; start < files.length; start += FILES_PER_REQUEST) {
      const chunk = files.slice(start, start + FILES_PER_REQUEST);
      chunks.push(new Promise((resolve, reject) => this.enqueue({ files: chunk, resolve, reject })));
    }
    return (await Promise.all(chunks)).flat();
  }

  /** Whether hashing threads have been started. */
  get threadsStarted(): boolean {
    return this.workers.length > 0;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private enqueue(request: Request): void {
    if (this.failure) return request.reject(this.failure);
    this.queue.push(request);
    this.dispatch();
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop()!;
      const request = this.queue.shift()!;
      this.busy.set(worker, request);
      const message: HashRequest = { id: this.nextId++, files: request.files };
      worker.postMessage(message);
    }
  }

  private answered(worker: Worker, response: HashResponse): void {
    const request = this.busy.get(worker);
    this.busy.delete(worker);
    this.idle.push(worker);
    request?.resolve(resultsOf(response));
    this.dispatch();
  }

  /** A thread that dies takes the pool with it: every waiting request fails with the reason. */
  private failed(error: Error): void {
    this.failure ??= error;
    for (const request of [...this.busy.values(), ...this.queue.splice(0)]) request.reject(this.failure);
    this.busy.clear();
  }
}
