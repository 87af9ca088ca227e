import * as grpc from '@grpc/grpc-js';
import { isUuid, Library, readLibraryRoot, readRecord, redeemInvite, TidemarkError } from '@tidemark/engine';
import { Member, PairingServiceService, PairRequest, PairResponse } from '@tidemark/proto';
import type { Logger } from 'pino';
import { toGrpcStatus } from '../grpc/grpc-status';
import { Decoded, lenient } from '../server/request-decoding';
import { FailureLimiter, hostOfPeer } from '../security/failure-limiter';
import { MembershipWatch } from '../security/membership-watch';
import { DeviceCredentials } from '../tls/device-credentials';
import { identityOf } from '../tls/device-id';
import { pairingTranscript, verifyPairing } from './proof';

/** PairingService with requests decoded leniently (bad bytes answer INVALID_ARGUMENT). */
export const LenientPairingService = {
  pair: lenient(PairingServiceService.pair, 'PairRequest'),
} as const;

export interface PairingImplementation extends grpc.UntypedServiceImplementation {
  pair: grpc.handleUnaryCall<Decoded<PairRequest>, PairResponse>;
}

/** Only in TLS mode: an --insecure node has no certificate to pin, so it cannot pair. */
export interface PairingTls {
  readonly device: DeviceCredentials;
  readonly members: MembershipWatch;
}

const MAX_CERTIFICATE_BYTES = 16 * 1024;
const MAX_NAME_BYTES = 256;

/** Refusals that count against the caller's address: guessing, not typos. */
const COUNTED = new Set(['INVITE_REJECTED', 'UNAUTHENTICATED', 'LIBRARY_MISMATCH']);

/**
 * The inviter's side of pairing: checks the invite (single-use, unexpired, secret by hash),
 * that the caller holds the key of the certificate it sends, records the joiner as a member and
 * answers with the inviter's certificate and the members it knows.
 */
export function createPairingHandlers(
  library: Library,
  tls: PairingTls | undefined,
  limiter: FailureLimiter,
  logger: Logger,
): PairingImplementation {
  const run = async (request: PairRequest): Promise<PairResponse> => {
    if (!tls) {
      throw new TidemarkError(
        'FAILED_PRECONDITION',
        'this node runs with --insecure and cannot pair; restart it without --insecure',
      );
    }
    const { libraryId, deviceId } = library.identity;
    if (request.libraryId !== libraryId) {
      throw new TidemarkError('LIBRARY_MISMATCH', `this node does not serve library "${request.libraryId}"`);
    }
    if (!isUuid(request.inviteId)) throw new TidemarkError('INVALID_ARGUMENT', 'invite_id must be a UUID');
    if (Buffer.byteLength(request.deviceName) > MAX_NAME_BYTES) {
      throw new TidemarkError('INVALID_ARGUMENT', `device_name must be at most ${MAX_NAME_BYTES} bytes`);
    }
    if (request.certificate.length === 0 || request.certificate.length > MAX_CERTIFICATE_BYTES) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `certificate must be 1 to ${MAX_CERTIFICATE_BYTES} bytes of DER`,
      );
    }
    const joiner = identityOf(Buffer.from(request.certificate));
    const transcript = pairingTranscript(request.libraryId, request.inviteId, Buffer.from(request.secret));
    if (!verifyPairing(joiner.x509.publicKey, transcript, Buffer.from(request.proof))) {
      throw new TidemarkError(
        'UNAUTHENTICATED',
        'the pairing proof was not signed by the key of the certificate sent',
      );
    }
    if (joiner.deviceId === deviceId)
      throw new TidemarkError('INVALID_ARGUMENT', 'a device cannot pair with itself');
    await redeemInvite(library, {
      inviteId: request.inviteId,
      secret: Buffer.from(request.secret),
      member: {
        deviceId: joiner.deviceId,
        fingerprint: joiner.fingerprint,
        certificatePem: joiner.pem,
        name: request.deviceName,
        addedBy: deviceId,
      },
    });
    await tls.members.refresh();
    logger.info({ device: joiner.deviceId, name: request.deviceName }, 'device paired and added as a member');
    const self = await readRecord(library, 'device', deviceId);
    const toWire = (id: string, pem: string, name: string): Member => ({
      deviceId: id,
      certificate: identityOf(pem).der,
      name,
    });
    return {
      libraryId,
      inviter: toWire(deviceId, tls.device.certificate.pem, self?.name ?? ''),
      members: tls.members.members
        .filter((member) => member.deviceId !== joiner.deviceId)
        .map((member) => toWire(member.deviceId, member.certificatePem, member.name)),
      libraryName: library.identity.name,
      rootDeviceId: await readLibraryRoot(library),
    };
  };

  return {
    pair(call, callback) {
      const host = hostOfPeer(call.getPeer());
      const decoded = call.request;
      Promise.resolve()
        .then(() => {
          limiter.check(host);
          if (!decoded.ok) throw new TidemarkError('INVALID_ARGUMENT', decoded.error);
          return run(decoded.value);
        })
        .then(
          (response) => callback(null, response),
          (error: unknown) => {
            const status = toGrpcStatus(error);
            if (error instanceof TidemarkError && COUNTED.has(error.code)) {
              limiter.record(host);
              logger.warn({ host, code: error.code, details: status.details }, 'pairing refused');
            } else if (status.code === grpc.status.INTERNAL) {
              logger.error({ host, err: error }, 'pairing failed');
            }
            callback(status);
          },
        );
    },
  };
}
