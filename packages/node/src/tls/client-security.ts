import * as grpc from '@grpc/grpc-js';
import { TidemarkError } from '@tidemark/engine';
import { isGrpcError, notTidemarkNodeReason } from '../grpc/grpc-status';
import { DeviceCredentials } from './device-credentials';
import { pinnedChannel, TrustedCertificate } from './client-credentials';
import { deviceIdOf } from './device-id';
import { PeerPins } from './peer-pins';

/** What a TLS client needs: this device's credentials and the certificates it accepts. */
export interface ClientTls {
  readonly device: DeviceCredentials;
  readonly trusted: readonly TrustedCertificate[];
  /**
   * Which device each address is pinned to. Shared by every transport a node opens, so that a
   * reconnect is held to the device the address was first; by default the channel's own.
   */
  readonly pins?: PeerPins;
}

/** A client call, asked which connection carried it. */
export type ServedCall = Pick<grpc.ClientUnaryCall, 'getAuthContext'>;

export interface SecuredChannel {
  readonly secure: boolean;
  readonly trustedCount: number;
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ChannelOptions;
  /**
   * Checks the certificate of the connection that served `call`: that of the device the server
   * claims to be (when it claims one), and that of the device `address` is pinned to (the first
   * one seen pins it). A channel reconnects on its own, possibly to another server at the same
   * address, so nothing learned from an earlier call vouches for this one. Throws
   * UNAUTHENTICATED; call it before using anything the call returned.
   */
  checkServedBy(call: ServedCall, address: string, claimedDeviceId?: string): void;
}

export function securedChannel(tls: ClientTls | undefined): SecuredChannel {
  if (!tls) {
    return {
      secure: false,
      trustedCount: 0,
      credentials: grpc.credentials.createInsecure(),
      options: {},
      checkServedBy: () => undefined,
    };
  }
  const pinned = pinnedChannel(tls.device, tls.trusted);
  const pins = tls.pins ?? new PeerPins();
  return {
    secure: true,
    trustedCount: tls.trusted.length,
    credentials: pinned.credentials,
    options: pinned.options,
    checkServedBy(call, address, claimedDeviceId) {
      const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
      if (!raw) {
        throw new TidemarkError(
          'UNAUTHENTICATED',
          `peer ${address} answered on a connection without a verified certificate`,
        );
      }
      const deviceId = deviceIdOf(raw);
      if (claimedDeviceId !== undefined && claimedDeviceId !== deviceId) {
        throw new TidemarkError(
          'UNAUTHENTICATED',
          `peer ${address} says it is device ${claimedDeviceId}, but its certificate is device ${deviceId}`,
        );
      }
      pins.check(address, deviceId);
    },
  };
}

/** What grpc-js and OpenSSL say of a TLS handshake that failed (not of a host named "ssl-box"). */
const TLS_TROUBLE =
  /certificate|self[- ]signed|SSL routines|sslv3 alert|tlsv1[0-9.]* alert|TLS connection|handshake|not a member/i;

/**
 * grpc-js reports a refused server certificate as UNAVAILABLE ("No connection established ...
 * self-signed certificate"), which reads like a network fault and would be retried quietly. Say
 * what it is: the server is not a member this device trusts.
 */
export function explainTlsFailure(error: TidemarkError, channel: SecuredChannel): TidemarkError {
  if (!channel.secure || error.code !== 'UNAVAILABLE') return error;
  // What grpc-js said, not the message: that names the peer, whose host name may hold "ssl" or
  // "tls" (ssl-box.example), and says itself when the address is not a Tidemark node at all.
  const details = (isGrpcError(error.cause) ? error.cause.details : error.message).replace(/target \S+/g, '');
  if (!TLS_TROUBLE.test(details) || notTidemarkNodeReason(details) !== undefined) return error;
  const why =
    channel.trustedCount === 0
      ? 'this library has no paired members to trust yet: pair with `tidemark invite` and `tidemark join`'
      : "the peer's certificate is not a member of this library (or the peer refused ours)";
  return new TidemarkError('UNAUTHENTICATED', `${why}; ${error.message}`, { cause: error });
}
