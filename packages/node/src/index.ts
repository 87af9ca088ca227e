/** @tidemark/node: the gRPC daemon: sync service, health, reflection, peer sessions, metrics. */
export { formatHostPort, parseHostPort, type HostPort } from './address';
export { DEFAULT_RECONNECT, type NodeConfig, type ReconnectPolicy } from './config';
export { type PeerSessionEvent } from './peers/events';
export { fromGrpcError, toGrpcStatus } from './grpc/grpc-status';
export { GrpcSyncTransport } from './peers/grpc-transport';
export { createLogger, type Logger, type LoggerOptions } from './logger';
export { startNode, type RunningNode } from './node';
export {
  PEER_SESSION_BATCH_SIZE,
  peerSession$,
  type ClosableTransport,
  type PeerSessionOptions,
} from './peers/peer-session';
export { runNodeProcess, type NodeCompanion } from './process';
export { decodeInvite, encodeInvite, type Invite } from './pairing/invite-code';
export { joinLibrary, type JoinResult } from './pairing/pairing-client';
export { type TrustedCertificate } from './tls/client-credentials';
export { type ClientTls } from './tls/client-security';
export {
  createDeviceCredentials,
  DEVICE_CERT_FILE,
  DEVICE_KEY_FILE,
  hasDeviceCredentials,
  loadDeviceCredentials,
  type DeviceCredentials,
} from './tls/device-credentials';
export { deviceIdOf, fingerprintOf, identityOf, type CertificateIdentity } from './tls/device-id';
export { deviceSigner } from './tls/device-signer';
export { bridgeLegacyMembers } from './security/legacy-bridge';
export { trustedOf } from './security/node-security';
export { isLoopbackHost } from './address';
