import { Library, readActiveMembers, TidemarkError } from '@tidemark/engine';
import { GrpcSyncTransport, loadDeviceCredentials, trustedOf } from '@tidemark/node';
import { HandshakeResponse, ProtocolVersion } from '@tidemark/proto';
import { Command } from 'commander';
import * as path from 'node:path';
import { checkInsecure, hostPort, positiveInt } from './options';
import { withLibrary } from './with-library';

/**
 * The transport of a one-shot network command (sync, verify, repair): plaintext when --insecure
 * (already checked to be loopback), otherwise mutual TLS with this device's certificate, trusting
 * exactly the library's current members.
 */
export async function peerTransport(
  dir: string,
  library: Library,
  peer: string,
  insecure: boolean,
): Promise<GrpcSyncTransport> {
  if (insecure) return new GrpcSyncTransport(peer, { insecure: true });
  const device = loadDeviceCredentials(path.resolve(dir), library.identity.deviceId);
  const members = await readActiveMembers(library);
  if (members.length === 0) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      'this library has no paired devices to trust: pair first (`tidemark invite` on the peer, `tidemark join` here), ' +
        'or pass --insecure for plaintext on loopback',
    );
  }
  return new GrpcSyncTransport(peer, { tls: { device, trusted: members.map(trustedOf) } });
}

/** What every one-shot network command (sync, verify, repair) takes. */
export interface PeerCommandOptions {
  library: string;
  peer: string;
  insecure?: boolean;
  json?: boolean;
}

/**
 * Opens the library and a transport to the peer for the duration of `fn`, and closes both however
 * `fn` ends. --insecure is checked here once: plaintext only for loopback peers.
 */
export async function withPeer<T>(
  options: PeerCommandOptions,
  fn: (library: Library, transport: GrpcSyncTransport) => Promise<T>,
): Promise<T> {
  const insecure = checkInsecure(options.insecure, [options.peer]);
  return withLibrary(options.library, async (library) => {
    const transport = await peerTransport(options.library, library, options.peer, insecure);
    try {
      return await fn(library, transport);
    } finally {
      transport.close();
    }
  });
}

/** The options every one-shot network command declares, in one place so their help agrees. */
export function peerCommand(command: Command, peerHelp: string, withBatchSize: boolean): Command {
  command
    .requiredOption('--library <dir>', 'library directory')
    .requiredOption('--peer <host:port>', peerHelp, hostPort);
  if (withBatchSize) {
    command.option('--batch-size <n>', 'rows per batch (0 = server default)', positiveInt('--batch-size'), 0);
  }
  return command
    .option(
      '--insecure',
      'plaintext gRPC without authentication (loopback addresses only; default: mutual TLS)',
    )
    .option('--json', 'print the result as JSON');
}

/**
 * The handshake a one-shot command starts with: its deadline is 30 s, so a peer that accepts and
 * never answers fails here, not after a digest's 10 minutes (verify, repair).
 */
export function handshakeWith(library: Library, transport: GrpcSyncTransport): Promise<HandshakeResponse> {
  return transport.handshake({
    libraryId: library.identity.libraryId,
    deviceId: library.identity.deviceId,
    epoch: library.identity.epoch,
    protocolVersion: ProtocolVersion.PROTOCOL_VERSION_1,
    heads: [],
    sentAtMs: Date.now(),
  });
}
