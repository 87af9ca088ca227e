import { Library, MemberStore, TidemarkError } from '@tidemark/engine';
import { GrpcSyncTransport, loadDeviceCredentials, trustedOf } from '@tidemark/node';
import * as path from 'node:path';

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
  const members = await new MemberStore(library.db.read).active();
  if (members.length === 0) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      'this library has no paired devices to trust: pair first (`tidemark invite` on the peer, `tidemark join` here), ' +
        'or pass --insecure for plaintext on loopback',
    );
  }
  return new GrpcSyncTransport(peer, { tls: { device, trusted: members.map(trustedOf) } });
}
