import {
  DigestRequest,
  DigestResponse,
  HandshakeRequest,
  HandshakeResponse,
  StateBatch,
  StateRequest,
} from '@tidemark/proto';

/**
 * What a client needs from a connection to a serving node. The gRPC client and the in-memory
 * transport implement it. `streamState` is pull-based: the next batch is taken only after the
 * previous one was applied, so flow control reaches the server instead of piling up here.
 * Leaving the iteration early (break/return) or aborting `signal` cancels the stream; after an
 * abort the iteration ends quietly.
 */
export interface SyncTransport {
  handshake(request: HandshakeRequest): Promise<HandshakeResponse>;
  streamState(request: StateRequest, signal?: AbortSignal): AsyncIterable<StateBatch>;
  digest(request: DigestRequest): Promise<DigestResponse>;
}
