import * as grpc from '@grpc/grpc-js';
import { resourceTypeOf } from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import { StateBatch, StateRequest, SyncServiceClient } from '@tidemark/proto';
import { RunningNode } from '../src';
import { createMemberFiles, rawClient, removeTempDirs, startTestNode, statusOf } from './helpers';

// docs/protocol.md, Errors: a held prefix with "a `seq` out of range" is INVALID_ARGUMENT, and a
// detail says what was wrong. A held seq of 2^53 (an off-by-one on 2^53 - 1, "never send me my
// own rows") failed decoding and was answered as "a cursor seq is 2^53 or more", about a cursor
// whose seq was 0.

/** The decoder names no field, so the detail names both seqs a StateRequest carries. */
const DETAIL =
  'a cursor seq or a held prefix seq is 2^53 or more, which no node issues (cursor seqs stay below 2^53 = 9,007,199,254,740,992; the largest held prefix seq is 2^53 - 1, "everything")';

let node: RunningNode;
let client: SyncServiceClient;

beforeAll(async () => {
  const [file] = await createMemberFiles(1, (library) =>
    writeSyntheticLibrary(library, { volumes: 1, locations: 1, entries: 10 }),
  );
  node = await startTestNode(file);
  client = rawClient(node.address);
});

afterAll(async () => {
  client?.close();
  await node?.close();
  removeTempDirs();
});

async function stream(request: Partial<StateRequest>): Promise<StateBatch[]> {
  const call = client.streamState(StateRequest.fromPartial(request));
  const batches: StateBatch[] = [];
  for await (const batch of call as AsyncIterable<StateBatch>) batches.push(batch);
  return batches;
}

test('a held prefix seq of 2^53 or more gets a detail that names it, as does a cursor seq', async () => {
  const { libraryId, deviceId, epoch } = node.library.identity;
  const cursor = (seq: number, heldSeq: number) => ({
    resourceType: resourceTypeOf('entry'),
    epoch: '',
    seq,
    commitId: '',
    held: [{ origin: deviceId, epoch, seq: heldSeq }],
  });
  const tooLarge = {
    code: grpc.status.INVALID_ARGUMENT,
    details: DETAIL,
  };
  await expect(stream({ libraryId, cursors: [cursor(0, 2 ** 53)] }).catch(statusOf)).resolves.toEqual(
    tooLarge,
  );
  await expect(stream({ libraryId, cursors: [cursor(2 ** 53, 1)] }).catch(statusOf)).resolves.toEqual(
    tooLarge,
  );
  // 2^53 - 1 is what a node sends for its own lineage: valid.
  const batches = await stream({ libraryId, cursors: [cursor(0, 2 ** 53 - 1)] });
  expect(batches[batches.length - 1].caughtUp).toBe(true);
});
