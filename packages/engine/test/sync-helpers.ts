import { StateBatch } from '@tidemark/proto';
import { lastValueFrom, tap, toArray } from 'rxjs';
import {
  Library,
  LibrarySyncService,
  RESOURCE_NAMES,
  ResourceName,
  resourceTypeOf,
  SyncEvent,
  syncFromPeer$,
  SyncOptions,
  SyncTransport,
} from '../src';
import { digestResource } from '../src/digest';
import { InMemoryTransport, InMemoryTransportOptions } from '../src/testing';

export function transportTo(server: Library, options?: InMemoryTransportOptions): InMemoryTransport {
  return new InMemoryTransport(new LibrarySyncService(server), options);
}

/** Runs one sync to completion and returns its events. */
export async function syncOnce(
  client: Library,
  server: Library,
  options: SyncOptions & InMemoryTransportOptions = {},
) {
  return lastValueFrom(syncFromPeer$(client, transportTo(server, options), options).pipe(toArray()));
}

/** Like syncOnce, but resolves with the error when the transport was cut. */
export async function syncUntilCut(client: Library, transport: SyncTransport, options: SyncOptions = {}) {
  const events: SyncEvent[] = [];
  try {
    await lastValueFrom(syncFromPeer$(client, transport, options).pipe(tap((event) => events.push(event))), {
      defaultValue: undefined,
    });
    return { events, error: undefined };
  } catch (error) {
    return { events, error: error as Error };
  }
}

export type DigestMap = { [N in ResourceName]: string };

/** Per-type digests of a library as comparable strings "rows/tombstones/hash". */
export async function digestsOf(library: Library): Promise<DigestMap> {
  const out: Partial<DigestMap> = {};
  for (const name of RESOURCE_NAMES) {
    const digest = await digestResource(library.db.read, name);
    out[name] =
      `${digest.rowCount}/${digest.tombstoneCount}/${Buffer.from(digest.hash).toString('hex').slice(0, 16)}`;
  }
  return out as DigestMap;
}

export async function countRows(library: Library, table: string): Promise<number> {
  const [row] = await library.db.read.query<{ n: number }>(`SELECT count(*) AS n FROM ${table}`);
  return row.n;
}

/** Pulls everything `server` has, three rows a batch (so pages cut often), and fails on any error. */
export async function pull(client: Library, server: Library): Promise<void> {
  const run = await syncUntilCut(client, transportTo(server), { batchSize: 3 });
  expect(run.error).toBeUndefined();
}

/** `server`'s whole type as it serves it to `client` from seq 0, through the wire format like every real batch. */
export async function servedThroughWire(
  server: Library,
  client: Library,
  name: ResourceName,
  batchSize = 100,
): Promise<StateBatch[]> {
  const batches = await lastValueFrom(
    new LibrarySyncService(server)
      .streamState({
        libraryId: server.identity.libraryId,
        deviceId: client.identity.deviceId,
        cursors: [{ resourceType: resourceTypeOf(name), epoch: '', seq: 0, commitId: '', held: [] }],
        batchSize,
        follow: false,
      })
      .pipe(toArray()),
  );
  return batches.map((batch) => StateBatch.decode(StateBatch.encode(batch).finish()));
}
