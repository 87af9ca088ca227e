import type * as grpc from '@grpc/grpc-js';
import { TidemarkError } from '@tidemark/engine';
import { MAX_UNAUTHENTICATED_REQUEST_BYTES } from '../grpc/grpc-options';
import { fingerprintOf } from '../tls/device-id';
import { FailureLimiter, hostOfPeer } from './failure-limiter';
import { MembershipWatch } from './membership-watch';

/** Who is calling, as far as this node could establish. */
export interface Caller {
  /** Remote address without port. */
  readonly host: string;
  /** The verified device id (TLS), or the claimed one (insecure), or undefined. */
  readonly deviceId: string | undefined;
  /** The certificate fingerprint: set only in TLS mode, where it is the caller's identity. */
  readonly fingerprint: string | undefined;
  /** Key for per-caller limits (concurrent streams). */
  readonly key: string;
}

export type CallLike = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getPeer' | 'getAuthContext'>;

/** Concurrent StateStreams one caller may hold. A client needs at most ~17 (8 follows, 8 retries, 1 backfill). */
export const MAX_STREAMS_PER_CALLER = 64;

/**
 * Digests one caller may have running at once. A digest scans whole types; a client needs one
 * at a time (`tidemark verify`, `sync --verify`), so two leave room for a retry overlapping a
 * call that is still winding down.
 */
export const MAX_DIGESTS_PER_CALLER = 2;

/**
 * Authentication and authorization of incoming sync calls. `admit` runs before the engine sees
 * a request; it throws the TidemarkError the caller should get as a status.
 */
export interface CallGuard {
  readonly secure: boolean;
  readonly limiter: FailureLimiter;
  /** `requestBytes`: the request's encoded size, held to a smaller limit for non-members. */
  admit(call: CallLike, libraryId: string, claimedDeviceId: string, requestBytes?: number): Caller;
  /** False once the caller's device was removed (live streams are then cut). */
  stillAllowed(caller: Caller): boolean;
}

/**
 * --insecure: no authentication and no authorization (documented in docs/security.md). The
 * library id is left to the engine, which answers PERMISSION_DENIED as before.
 */
export function insecureGuard(limiter = new FailureLimiter()): CallGuard {
  return {
    secure: false,
    limiter,
    admit(call, _libraryId, claimedDeviceId) {
      const host = hostOfPeer(call.getPeer());
      return { host, deviceId: claimedDeviceId || undefined, fingerprint: undefined, key: host };
    },
    stillAllowed: () => true,
  };
}

/**
 * Mutual TLS: the caller must present the certificate of a current member of the served
 * library. The library id is checked first, so a device of another library is told
 * PERMISSION_DENIED (it dialed the wrong node) without learning which library this node serves;
 * a device that is not a member gets UNAUTHENTICATED. Failures count against the address, and
 * an address over its limit gets RESOURCE_EXHAUSTED; members are never limited, so a member
 * behind the same NAT as a misbehaving device keeps working.
 */
export function memberGuard(
  libraryId: string,
  members: MembershipWatch,
  limiter = new FailureLimiter(),
): CallGuard {
  return {
    secure: true,
    limiter,
    admit(call, requestedLibraryId, claimedDeviceId, requestBytes = 0) {
      const host = hostOfPeer(call.getPeer());
      const refuse = (error: TidemarkError): TidemarkError => {
        limiter.check(host);
        limiter.record(host);
        return error;
      };
      const certificate = call.getAuthContext().sslPeerCertificate;
      const fingerprint = certificate?.raw ? fingerprintOf(certificate.raw) : undefined;
      const member = fingerprint === undefined ? undefined : members.memberByFingerprint(fingerprint);
      if (!member && requestBytes > MAX_UNAUTHENTICATED_REQUEST_BYTES) {
        throw refuse(
          new TidemarkError(
            'RATE_LIMITED',
            `a request of ${requestBytes} bytes from a caller that is not a member; the limit before authentication is ${MAX_UNAUTHENTICATED_REQUEST_BYTES}`,
          ),
        );
      }
      if (requestedLibraryId !== libraryId) {
        throw refuse(
          new TidemarkError('LIBRARY_MISMATCH', `this node does not serve library "${requestedLibraryId}"`),
        );
      }
      const removed =
        member || fingerprint === undefined ? undefined : members.removedByFingerprintOf(fingerprint);
      if (removed) {
        // Pairing again cannot help (removal is final for a device identity): say so, rather
        // than send the user through an invite that its inviter must refuse.
        throw refuse(
          new TidemarkError(
            'UNAUTHENTICATED',
            `device ${removed.deviceId} was removed from library ${libraryId}, and removal is final: ` +
              'it no longer syncs with its members; to come back it needs a new identity ' +
              '(`tidemark join` into a new library directory, with a new invite)',
          ),
        );
      }
      if (!member) {
        throw refuse(
          new TidemarkError(
            'UNAUTHENTICATED',
            `the client certificate is not a member of library ${libraryId}; ` +
              'pair the devices first (`tidemark invite` here, `tidemark join` there)',
          ),
        );
      }
      if (claimedDeviceId && claimedDeviceId !== member.deviceId) {
        throw new TidemarkError(
          'UNAUTHENTICATED',
          `the request claims device ${claimedDeviceId} but the client certificate is device ${member.deviceId}`,
        );
      }
      return { host, deviceId: member.deviceId, fingerprint: member.fingerprint, key: member.fingerprint };
    },
    stillAllowed: (caller) =>
      caller.fingerprint !== undefined && members.memberByFingerprint(caller.fingerprint) !== undefined,
  };
}
