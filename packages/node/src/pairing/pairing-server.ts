import * as grpc from '@grpc/grpc-js';
import {
  hasControlCharacter,
  isUuid,
  Library,
  MAX_BYTES,
  MAX_NAME_BYTES,
  readDeviceName,
  readLibraryRoot,
  readMembers,
  readMembershipChanges,
  redeemInvite,
  refuseUnlessInviteOpen,
  signMemberAdd,
  TidemarkError,
} from '@tidemark/engine';
import { Member, PairingServiceService, PairRequest, PairResponse } from '@tidemark/proto';
import type { Logger } from 'pino';
import { MAX_UNAUTHENTICATED_REQUEST_BYTES } from '../grpc/grpc-options';
import { toGrpcStatus } from '../grpc/grpc-status';
import { Decoded, lenient } from '../server/request-decoding';
import { FailureLimiter, hostOfPeer } from '../security/failure-limiter';
import { MembershipWatch } from '../security/membership-watch';
import { DeviceCredentials } from '../tls/device-credentials';
import { identityOf } from '../tls/device-id';
import { checkJoinerCertificate } from '../tls/joiner-certificate';
import { deviceSigner } from '../tls/device-signer';
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

/** What every member accepts in a membership change's bytes field (validate.ts). */
const MAX_CERTIFICATE_BYTES = MAX_BYTES;

/**
 * Refusals that count against the caller's address: guessing, not typos. Every attempt is
 * counted before the handler awaits anything, and given back when it ends otherwise.
 */
const COUNTED = new Set(['INVITE_REJECTED', 'UNAUTHENTICATED', 'LIBRARY_MISMATCH']);

/**
 * Refuses a pairing the library's signed membership forbids, before the invite is spent: an
 * inviter that was removed (its invites died with it) and a joiner that was (removal is final
 * for that identity, whichever member it asks).
 */
async function checkMembership(library: Library, joinerId: string): Promise<void> {
  const members = new Map((await readMembers(library)).map((member) => [member.deviceId, member]));
  const self = library.identity.deviceId;
  if (members.get(self)?.removedAtMs !== undefined) {
    throw new TidemarkError(
      'INVITE_REJECTED',
      'the inviting device was removed from this library: the invites it issued are void; ask another member',
    );
  }
  if (members.get(joinerId)?.removedAtMs !== undefined) {
    throw new TidemarkError(
      'INVITE_REJECTED',
      `device ${joinerId} was removed from this library, and removal is final: ` +
        'to come back it needs a new identity (join into a new library directory) and a new invite',
    );
  }
}

/**
 * The inviter's side of pairing: checks the invite (single-use, unexpired, secret by hash),
 * that the caller holds the key of the certificate it sends, admits the joiner and answers with
 * the inviter's certificate, the members it knows and the library's root. In a library with
 * signed membership the admission is an ADD signed with this device's key, which reaches every
 * member by sync; in one without (paired before it, or never founded) a local member row.
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
    await refuseUnlessInviteOpen(library, request.inviteId, Buffer.from(request.secret));
    if (!isUuid(request.inviteId)) throw new TidemarkError('INVALID_ARGUMENT', 'invite_id must be a UUID');
    if (Buffer.byteLength(request.deviceName) > MAX_NAME_BYTES || hasControlCharacter(request.deviceName)) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `device_name must be at most ${MAX_NAME_BYTES} bytes, without control characters`,
      );
    }
    if (request.certificate.length === 0 || request.certificate.length > MAX_CERTIFICATE_BYTES) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `certificate must be 1 to ${MAX_CERTIFICATE_BYTES} bytes of DER`,
      );
    }
    const joiner = identityOf(Buffer.from(request.certificate));
    checkJoinerCertificate(joiner, [
      { deviceId, certificatePem: tls.device.certificate.pem },
      ...tls.members.members,
    ]);
    const transcript = pairingTranscript(request.libraryId, request.inviteId, Buffer.from(request.secret));
    if (!verifyPairing(joiner.x509.publicKey, transcript, Buffer.from(request.proof))) {
      throw new TidemarkError(
        'UNAUTHENTICATED',
        'the pairing proof was not signed by the key of the certificate sent',
      );
    }
    if (joiner.deviceId === deviceId)
      throw new TidemarkError('INVALID_ARGUMENT', 'a device cannot pair with itself');
    const secret = Buffer.from(request.secret);
    let alreadyMember = false;
    if ((await readMembershipChanges(library)).length > 0) {
      await checkMembership(library, joiner.deviceId);
      // Spent in the transaction that signs the ADD: two joiners racing with one invite cannot
      // both be signed in, and an ADD refused leaves the invite open. A member joining again
      // gets no ADD, and the invite is left unused.
      const added = await signMemberAdd(library, deviceSigner(tls.device), joiner.der, request.deviceName, {
        inviteId: request.inviteId,
        secret,
      });
      alreadyMember = added === undefined;
    } else if ((await readLibraryRoot(library)) !== '') {
      // A local member row would vanish when the membership arrives: the joiner would be lost.
      throw new TidemarkError(
        'FAILED_PRECONDITION',
        'the inviting device has not received the library membership yet; try again once it has synced with a member',
      );
    } else {
      await redeemInvite(library, {
        inviteId: request.inviteId,
        secret,
        member: {
          deviceId: joiner.deviceId,
          fingerprint: joiner.fingerprint,
          certificatePem: joiner.pem,
          name: request.deviceName,
          addedBy: deviceId,
        },
      });
    }
    await tls.members.refresh();
    logger.info(
      { device: joiner.deviceId, name: request.deviceName },
      alreadyMember
        ? 'a member paired again; the invite was left unused'
        : 'device paired and added as a member',
    );
    const selfName = await readDeviceName(library, deviceId);
    const toWire = (id: string, pem: string, name: string): Member => ({
      deviceId: id,
      certificate: identityOf(pem).der,
      name,
    });
    return {
      libraryId,
      inviter: toWire(deviceId, tls.device.certificate.pem, selfName),
      members: tls.members.members
        .filter((member) => member.deviceId !== joiner.deviceId && member.deviceId !== deviceId)
        .map((member) => toWire(member.deviceId, member.certificatePem, member.name)),
      libraryName: library.identity.name,
      rootDeviceId: await readLibraryRoot(library),
      alreadyMember,
    };
  };

  return {
    pair(call, callback) {
      const host = hostOfPeer(call.getPeer());
      const decoded = call.request;
      try {
        // Counted before the first await: parallel attempts cannot all pass the check.
        limiter.take(host);
      } catch (error) {
        callback(toGrpcStatus(error));
        return;
      }
      Promise.resolve()
        .then(() => {
          if (decoded.size > MAX_UNAUTHENTICATED_REQUEST_BYTES) {
            throw new TidemarkError(
              'INVALID_ARGUMENT',
              `a PairRequest is at most ${MAX_UNAUTHENTICATED_REQUEST_BYTES} bytes; this one has ${decoded.size}`,
            );
          }
          if (!decoded.ok) throw new TidemarkError('INVALID_ARGUMENT', decoded.error);
          return run(decoded.value);
        })
        .then(
          (response) => {
            limiter.refund(host);
            callback(null, response);
          },
          (error: unknown) => {
            const status = toGrpcStatus(error);
            if (error instanceof TidemarkError && COUNTED.has(error.code)) {
              logger.warn({ host, code: error.code, details: status.details }, 'pairing refused');
            } else {
              limiter.refund(host);
              if (status.code === grpc.status.INTERNAL) logger.error({ host, err: error }, 'pairing failed');
            }
            callback(status);
          },
        );
    },
  };
}
