import * as grpc from '@grpc/grpc-js';
import { LibrarySyncService } from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import { DigestRequest, DigestResponse, ResourceType } from '@tidemark/proto';
import { RunningNode } from '../src';
import { MAX_DIGESTS_PER_CALLER } from '../src/security/call-guard';
import { createMemberFiles, rawClient, removeTempDirs, startTestNode, statusOf, waitUntil } from './helpers';

/** Digest scans whole types: one caller runs at most MAX_DIGESTS_PER_CALLER at once. */

let node: RunningNode;
let libraryId: string;

beforeAll(async () => {
  const [file] = await createMemberFiles(1, (library) =>
    writeSyntheticLibrary(library, {
      volumes: 1,
      locations: 2,
      entries: 20_000,
      entriesPerTransaction: 5_000,
    }),
  );
  node = await startTestNode(file);
  libraryId = node.library.identity.libraryId;
});

afterAll(async () => {
  await node?.close();
  removeTempDirs();
});

test('digests beyond the per-caller cap are refused while the first ones run', async () => {
  const client = rawClient(node.address);
  try {
    const digest = () =>
      new Promise((resolve, reject) =>
        client.digest(DigestRequest.fromPartial({ libraryId }), (error, response) =>
          error ? reject(error) : resolve(response),
        ),
      ).then(
        () => 'OK',
        (error: unknown) => grpc.status[statusOf(error).code],
      );
    const codes = await Promise.all(Array.from({ length: 6 }, digest));
    expect(codes.filter((code) => code === 'OK')).toHaveLength(MAX_DIGESTS_PER_CALLER);
    expect(codes.filter((code) => code === 'RESOURCE_EXHAUSTED')).toHaveLength(6 - MAX_DIGESTS_PER_CALLER);
    // The slots are given back when the scans end.
    await expect(digest()).resolves.toBe('OK');
  } finally {
    client.close();
  }
});

/** The page reads of a digest scan (engine/src/digest.ts), told apart from every other read. */
const DIGEST_PAGE = /^SELECT uuid, hlc, origin, seq FROM /;

interface PageReads {
  query<Row>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
}

test('a digest the caller cancels stops scanning at the next page', async () => {
  // Hold the scan at its first page until the test lets it go: the cancel then arrives mid-scan
  // on every machine, however fast.
  // The raw database is @internal to the engine (not in its declarations); its read runner is
  // the one seam where a test can hold a scan between pages without changing the engine. A
  // SQLite store digests on a thread of its own (engine test digest-thread.test.ts covers its
  // cancel); without `digest` the scan runs on the read runner, as on a store without a thread.
  const database = (node.library as unknown as { db: { read: PageReads; digest?: unknown } }).db;
  const reads = database.read;
  Object.defineProperty(database, 'digest', { configurable: true, value: undefined });
  let pages = 0;
  let reached!: () => void;
  const firstPageReached = new Promise<void>((resolve) => (reached = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  Object.defineProperty(database, 'read', {
    configurable: true,
    get: (): PageReads => ({
      query: async <Row>(sql: string, params?: readonly unknown[]) => {
        if (DIGEST_PAGE.test(sql) && ++pages === 1) {
          reached();
          await released;
        }
        return reads.query<Row>(sql, params);
      },
    }),
  });
  const digest = jest.spyOn(LibrarySyncService.prototype, 'digest');
  const client = rawClient(node.address);
  try {
    const answer = new Promise<grpc.status>((resolve) => {
      const call = client.digest(
        DigestRequest.fromPartial({ libraryId, resourceTypes: [ResourceType.RESOURCE_TYPE_ENTRY] }),
        (error) => resolve(error ? statusOf(error).code : grpc.status.OK),
      );
      void firstPageReached.then(() => call.cancel());
    });
    await expect(answer).resolves.toBe(grpc.status.CANCELLED);

    // The server turns the caller's RST_STREAM into an aborted signal for the scan...
    expect(digest).toHaveBeenCalledTimes(1);
    const signal = digest.mock.calls[0][1]?.signal;
    await waitUntil(
      async () => signal?.aborted === true,
      "the server's abort of the cancelled digest",
      30_000,
    );
    release();
    // ...and the scan stops before its next page: 20,000 entries are 4 pages and more.
    const scan = digest.mock.results[0].value as Promise<DigestResponse>;
    await expect(scan).rejects.toThrow('the digest was cancelled by its caller');
    expect(pages).toBe(1);
  } finally {
    release();
    digest.mockRestore();
    delete (database as { read?: unknown }).read;
    delete (database as { digest?: unknown }).digest;
    client.close();
  }
});
