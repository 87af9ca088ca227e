import type { HlcStamp, SyncTransport } from '@tidemark/engine';
import type { ResourceType } from '@tidemark/proto';

/**
 * Wraps a transport to remember the checkpoint HLC of the last batch handed out per type. The
 * engine applies one batch per type at a time and reports it before pulling the next, so when
 * its `batch` event arrives, the remembered checkpoint is the one just applied: lag in seconds
 * comes from it without another database read.
 */
export function tapCheckpoints(
  transport: SyncTransport,
  last: Map<ResourceType, HlcStamp | undefined>,
): SyncTransport {
  return {
    handshake: (request) => transport.handshake(request),
    digest: (request) => transport.digest(request),
    streamState: async function* (request, signal) {
      for await (const batch of transport.streamState(request, signal)) {
        last.set(batch.resourceType, batch.checkpoint?.hlc);
        yield batch;
      }
    },
  };
}
