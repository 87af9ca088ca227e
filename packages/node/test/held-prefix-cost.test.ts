import { randomUUID } from 'node:crypto';
import { resourceTypeOf } from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import { StateBatch, StateRequest, SyncServiceClient } from '@tidemark/proto';
import { RunningNode } from '../src';
import { createMemberFiles, rawClient, removeTempDirs, startTestNode } from './helpers';

/**
 * A StateRequest may list up to 1,000 held prefixes per cursor (docs/protocol.md, "Origin
 * prefixes"), and nothing requires the server to know their lineages: a requester lists what it
 * holds, learned from other servers. What the server does per page for prefixes it cannot
 * resolve must not grow with how many the request lists.
 */

const ENTRIES = 2_000;
const BATCH = 100;
/** The statement LineageCache loads the lineage table with (engine origin-prefixes.ts). */
const LINEAGE_LOAD = /^SELECT id, origin, epoch FROM origin_lineages\b/;

let node: RunningNode;
let client: SyncServiceClient;

beforeAll(async () => {
  const [file] = await createMemberFiles(1, (library) =>
    writeSyntheticLibrary(library, {
      volumes: 1,
      locations: 1,
      entries: ENTRIES,
      entriesPerTransaction: 1_000,
    }),
  );
  node = await startTestNode(file);
  client = rawClient(node.address);
});

afterAll(async () => {
  client?.close();
  await node?.close();
  removeTempDirs();
});

async function readAll(request: StateRequest): Promise<StateBatch[]> {
  const batches: StateBatch[] = [];
  for await (const batch of client.streamState(request) as AsyncIterable<StateBatch>) batches.push(batch);
  return batches;
}

test('held prefixes of lineages the server does not know cost one lineage read per page, not one per prefix', async () => {
  // The reader connection's queries, counted as they pass (the library's database is @internal).
  const reader = (node.library as unknown as { db: { reader: { query(sql: string): Promise<unknown> } } }).db
    .reader;
  const queries = jest.spyOn(reader, 'query');
  const unknownPrefixes = Array.from({ length: 1_000 }, () => ({
    origin: randomUUID(),
    epoch: randomUUID(),
    seq: 1,
  }));
  try {
    const batches = await readAll(
      StateRequest.fromPartial({
        libraryId: node.library.identity.libraryId,
        cursors: [{ resourceType: resourceTypeOf('entry'), epoch: '', seq: 0, held: unknownPrefixes }],
        batchSize: BATCH,
      }),
    );
    // Nothing is left out for lineages the server has no row of.
    expect(batches.reduce((sum, batch) => sum + batch.records.length, 0)).toBe(ENTRIES);
    expect(batches[batches.length - 1].caughtUp).toBe(true);
    const lineageLoads = queries.mock.calls.filter(([sql]) => LINEAGE_LOAD.test(sql)).length;
    // At most one look at the lineage table per page read (plus one for the origins on the wire);
    // one per unknown prefix per page was 1,000 x 20 = 20,000 table reads for 2,000 rows.
    expect(lineageLoads).toBeLessThanOrEqual(2 * batches.length + 1);
  } finally {
    queries.mockRestore();
  }
});
