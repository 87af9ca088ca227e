import * as grpc from '@grpc/grpc-js';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import { DigestRequest } from '@tidemark/proto';
import { RunningNode } from '../src';
import { MAX_DIGESTS_PER_CALLER } from '../src/security/call-guard';
import { createMemberFiles, rawClient, removeTempDirs, startTestNode, statusOf } from './helpers';

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
