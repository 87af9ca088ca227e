import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Library, readDigest, RESOURCE_NAMES, ResourceName } from '@tidemark/engine';
import { SyncServiceClient } from '@tidemark/proto';
import pino from 'pino';
import { filter, firstValueFrom, Observable, timeout } from 'rxjs';
import { NodeConfig, PeerSessionEvent, RunningNode, startNode } from '../src';

const made: string[] = [];

export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-node-'));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Set TIDEMARK_TEST_LOG=debug to see the nodes' logs while a test runs. */
export const quietLogger = pino({ level: process.env.TIDEMARK_TEST_LOG ?? 'silent' });

/**
 * Creates library files for `count` member devices of one library; `fill` writes into the
 * first one before it is closed (the nodes open the files themselves).
 */
export async function createMemberFiles(
  count: number,
  fill?: (library: Library) => Promise<void>,
): Promise<string[]> {
  const files: string[] = [];
  let libraryId: string | undefined;
  for (let i = 0; i < count; i++) {
    const file = Library.fileIn(tempDir());
    const library = await Library.create(file, { libraryId, name: `device ${i}` });
    libraryId = library.identity.libraryId;
    if (i === 0 && fill) await fill(library);
    await library.close();
    files.push(file);
  }
  return files;
}

export function startTestNode(libraryFile: string, config: Partial<NodeConfig> = {}): Promise<RunningNode> {
  return startNode({
    libraryFile,
    listen: '127.0.0.1:0',
    insecure: true,
    logger: quietLogger,
    reconnect: { initialMs: 50, maxMs: 500 },
    ...config,
  });
}

/** The first session event matching `predicate`, or a timeout error naming `what`. */
export function nextEvent<E extends PeerSessionEvent>(
  events$: Observable<PeerSessionEvent>,
  predicate: (event: PeerSessionEvent) => event is E,
  what: string,
  ms = 60_000,
): Promise<E> {
  return firstValueFrom(
    events$.pipe(
      filter(predicate),
      timeout({
        first: ms,
        with: () => Promise.reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
      }),
    ),
  );
}

export type DigestMap = { [N in ResourceName]: string };

/** Per-type "rows/tombstones/hash" of a library, comparable with toEqual. */
export async function digestsOf(library: Library): Promise<DigestMap> {
  const out: Partial<DigestMap> = {};
  for (const name of RESOURCE_NAMES) {
    const digest = await readDigest(library, name);
    out[name] = `${digest.rowCount}/${digest.tombstoneCount}/${Buffer.from(digest.hash).toString('hex')}`;
  }
  return out as DigestMap;
}

/** Polls `check` until it returns true. */
export async function waitUntil(check: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function rawClient(address: string): SyncServiceClient {
  return new SyncServiceClient(address, grpc.credentials.createInsecure());
}

/** The status of a failed call, as `{ code, details }`. */
export function statusOf(error: unknown): { code: grpc.status; details: string } {
  if (typeof error === 'object' && error !== null && 'code' in error && 'details' in error) {
    return { code: Number(error.code), details: String(error.details) };
  }
  throw error;
}
