/**
 * A server that predates membership lists no head for it and refuses a request for it (an
 * unknown resource type is INVALID_ARGUMENT). A client syncing from it leaves membership out
 * with that server and syncs every other type.
 */
import { HandshakeRequest, HandshakeResponse, ResourceType, StateBatch, StateRequest } from '@tidemark/proto';
import { TidemarkError } from '../src/errors';
import { SyncTransport } from '../src/transport';
import { createMembers, removeTempDirs } from './fixtures';
import { syncUntilCut, transportTo } from './sync-helpers';

afterAll(removeTempDirs);

/** The server as a node of the earlier protocol answers. */
function olderServer(inner: SyncTransport): SyncTransport {
  const isMembership = (type: ResourceType) => type === ResourceType.RESOURCE_TYPE_MEMBERSHIP;
  return {
    handshake: async (request: HandshakeRequest): Promise<HandshakeResponse> => {
      const response = await inner.handshake(request);
      return { ...response, heads: response.heads.filter((head) => !isMembership(head.resourceType)) };
    },
    streamState: (request: StateRequest, signal?: AbortSignal): AsyncIterable<StateBatch> => {
      if (request.cursors.some((cursor) => isMembership(cursor.resourceType))) {
        throw new TidemarkError('INVALID_ARGUMENT', 'unknown resource type 9');
      }
      return inner.streamState(request, signal);
    },
    digest: (request) => inner.digest(request),
  };
}

test('a client leaves membership out with a server that does not serve it, and syncs the rest', async () => {
  const [a, b] = await createMembers(2);
  try {
    await a.write((tx) =>
      tx.put('tag', { uuid: crypto.randomUUID(), name: 'from an older node', color: '' }),
    );
    const run = await syncUntilCut(b, olderServer(transportTo(a)));
    expect(run.error).toBeUndefined();
    const types = new Set(
      run.events.flatMap((event) => (event.kind === 'batch' ? [event.resourceType] : [])),
    );
    expect(types.has('membership')).toBe(false);
    expect(types.has('tag')).toBe(true);
    const tags = await b.db.read.query<{ name: string }>('SELECT name FROM tags');
    expect(tags.map((tag) => tag.name)).toEqual(['from an older node']);
  } finally {
    await a.close();
    await b.close();
  }
});
