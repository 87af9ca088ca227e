import * as grpc from '@grpc/grpc-js';
import { TidemarkError } from '@tidemark/engine';
import { DeviceCredentials } from './device-credentials';
import { pinnedChannel, TrustedCertificate } from './client-credentials';

/** What a TLS client needs: this device's credentials and the certificates it accepts. */
export interface ClientTls {
  readonly device: DeviceCredentials;
  readonly trusted: readonly TrustedCertificate[];
}

export interface SecuredChannel {
  readonly secure: boolean;
  readonly trustedCount: number;
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ChannelOptions;
  /** Throws UNAUTHENTICATED when a TLS server answers with a device id its certificate is not. */
  checkServerDevice(claimedDeviceId: string, address: string): void;
}

export function securedChannel(tls: ClientTls | undefined): SecuredChannel {
  if (!tls) {
    return {
      secure: false,
      trustedCount: 0,
      credentials: grpc.credentials.createInsecure(),
      options: {},
      checkServerDevice: () => undefined,
    };
  }
  const pinned = pinnedChannel(tls.device, tls.trusted);
  return {
    secure: true,
    trustedCount: tls.trusted.length,
    credentials: pinned.credentials,
    options: pinned.options,
    checkServerDevice(claimedDeviceId, address) {
      if (!pinned.verifiedDeviceIds.has(claimedDeviceId)) {
        throw new TidemarkError(
          'UNAUTHENTICATED',
          `peer ${address} says it is device ${claimedDeviceId}, but its certificate is ${[...pinned.verifiedDeviceIds].join(', ')}`,
        );
      }
    },
  };
}

const TLS_TROUBLE = /certificate|self[- ]signed|ssl|tls|handshake|not a member/i;

/**
 * grpc-js reports a refused server certificate as UNAVAILABLE ("No connection established ...
 * self-signed certificate"), which reads like a network fault and would be retried quietly. Say
 * what it is: the server is not a member this device trusts.
 */
export function explainTlsFailure(error: TidemarkError, channel: SecuredChannel): TidemarkError {
  if (!channel.secure || error.code !== 'UNAVAILABLE' || !TLS_TROUBLE.test(error.message)) return error;
  const why =
    channel.trustedCount === 0
      ? 'this library has no paired members to trust yet: pair with `tidemark invite` and `tidemark join`'
      : "the peer's certificate is not a member of this library (or the peer refused ours)";
  return new TidemarkError('UNAUTHENTICATED', `${why}; ${error.message}`, { cause: error });
}
