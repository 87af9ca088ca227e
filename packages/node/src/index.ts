/** @tidemark/node: the gRPC daemon: sync service, health, reflection, peer sessions, metrics. */
export { formatHostPort, parseHostPort, type HostPort } from './address';
export { DEFAULT_RECONNECT, type NodeConfig, type ReconnectPolicy } from './config';
export { type PeerSessionEvent } from './events';
export { fromGrpcError, toGrpcStatus } from './grpc-status';
export { GrpcSyncTransport } from './grpc-transport';
export { createLogger, type Logger, type LoggerOptions } from './logger';
export { startNode, type RunningNode } from './node';
export { peerSession$, type ClosableTransport, type PeerSessionOptions } from './peer-session';
export { runNodeProcess } from './process';
