import * as grpc from '@grpc/grpc-js';
import * as tls from 'node:tls';
import {
  addMembers,
  Library,
  NewMember,
  readMembershipChanges,
  setLibraryRoot,
  TidemarkError,
} from '@tidemark/engine';
import { Member as WireMember, PairingServiceClient, PairResponse } from '@tidemark/proto';
import { parseHostPort } from '../address';
import { CLIENT_OPTIONS } from '../grpc/grpc-options';
import { fromGrpcError, notTidemarkNodeReason } from '../grpc/grpc-status';
import { pinnedChannel, TLS_SERVER_NAME } from '../tls/client-credentials';
import { explainTlsFailure, securedChannel } from '../tls/client-security';
import { DeviceCredentials } from '../tls/device-credentials';
import { fingerprintOf, identityOf } from '../tls/device-id';
import { Invite } from './invite-code';
import { pairingTranscript, signPairing } from './proof';

const PAIR_DEADLINE_MS = 30_000;

/**
 * Fetches the certificate the node at `address` presents, and accepts it only if its
 * fingerprint is the one in the invite. Nothing is sent on this connection: it only turns the
 * pinned fingerprint into the certificate that the real, pinned connection needs as its anchor.
 */
function fetchPinnedCertificate(
  address: string,
  fingerprint: string,
  device: DeviceCredentials,
): Promise<string> {
  const { host, port } = parseHostPort(address, 'inviter address');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername: TLS_SERVER_NAME,
      ALPNProtocols: ['h2'],
      key: device.keyPem,
      cert: device.certificate.pem,
      // Verified below by fingerprint instead of by a CA.
      rejectUnauthorized: false,
      timeout: PAIR_DEADLINE_MS,
    });
    const fail = (error: TidemarkError) => {
      socket.destroy();
      reject(error);
    };
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      if (!raw || fingerprintOf(raw) !== fingerprint) {
        fail(
          new TidemarkError(
            'UNAUTHENTICATED',
            `the node at ${address} is not the inviter: its certificate does not match the invite's fingerprint`,
          ),
        );
        return;
      }
      resolve(identityOf(raw).pem);
    });
    socket.once('timeout', () =>
      fail(new TidemarkError('UNAVAILABLE', `inviter ${address} did not answer in time`)),
    );
    socket.once('error', (error) => {
      // OpenSSL's messages end in a newline; an error is one line.
      const message = error.message.replace(/\s+/g, ' ').trim();
      const notNode = notTidemarkNodeReason(message);
      fail(
        new TidemarkError(
          'UNAVAILABLE',
          notNode === undefined
            ? `cannot reach the inviter at ${address}: ${message}; is \`tidemark node\` running there (without --insecure)?`
            : `the inviter's address ${address} does not answer as a Tidemark node over TLS (${notNode}): check the address in the invite, and that \`tidemark node\` runs there without --insecure`,
        ),
      );
    });
  });
}

function callPair(
  client: PairingServiceClient,
  request: Parameters<PairingServiceClient['pair']>[0],
): Promise<PairResponse> {
  return new Promise((resolve, reject) => {
    client.pair(
      request,
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + PAIR_DEADLINE_MS) },
      (error, response) => (error ? reject(error) : resolve(response)),
    );
  });
}

function memberOf(wire: WireMember | undefined, addedBy: string): NewMember {
  if (!wire) throw new TidemarkError('UNAUTHENTICATED', 'the inviter did not send its certificate');
  const identity = identityOf(Buffer.from(wire.certificate));
  if (identity.deviceId !== wire.deviceId) {
    throw new TidemarkError(
      'UNAUTHENTICATED',
      `member ${wire.deviceId} came with the certificate of ${identity.deviceId}`,
    );
  }
  return {
    deviceId: identity.deviceId,
    fingerprint: identity.fingerprint,
    certificatePem: identity.pem,
    name: wire.name.slice(0, 256),
    addedBy,
  };
}

export interface JoinResult {
  readonly inviter: NewMember;
  readonly members: readonly NewMember[];
  /** The library's root as the inviter told it ('' from an inviter without signed membership). */
  readonly rootDeviceId: string;
  /** The inviter found this device already an active member: nobody was added, the invite is unused. */
  readonly alreadyMember: boolean;
}

/**
 * The joiner's side of pairing: dials the inviter with TLS pinned to the invite's fingerprint,
 * redeems the invite with proof of this device's key, records the library's root (the one
 * device whose founding ADD needs no other signer, trusted as far as the pinned inviter is) and
 * the inviter and the members it vouches for, so that this device can dial them at once. The
 * signed membership itself then arrives by ordinary sync, first of every type, and replaces
 * those local rows.
 */
export async function joinLibrary(
  library: Library,
  invite: Invite,
  device: DeviceCredentials,
  deviceName: string,
): Promise<JoinResult> {
  if (library.identity.libraryId !== invite.libraryId) {
    throw new TidemarkError(
      'LIBRARY_MISMATCH',
      `this library is ${library.identity.libraryId} but the invite is for ${invite.libraryId}; join into a new directory`,
    );
  }
  const inviterPem = await fetchPinnedCertificate(invite.address, invite.fingerprint, device);
  const inviterIdentity = identityOf(inviterPem);
  const trusted = [
    { deviceId: inviterIdentity.deviceId, fingerprint: invite.fingerprint, certificatePem: inviterPem },
  ];
  const pinned = pinnedChannel(device, trusted);
  const client = new PairingServiceClient(invite.address, pinned.credentials, {
    ...CLIENT_OPTIONS,
    ...pinned.options,
  });
  let response: PairResponse;
  try {
    response = await callPair(client, {
      libraryId: invite.libraryId,
      inviteId: invite.inviteId,
      secret: invite.secret,
      certificate: device.certificate.der,
      deviceName,
      proof: signPairing(device.keyPem, pairingTranscript(invite.libraryId, invite.inviteId, invite.secret)),
    });
  } catch (error) {
    throw explainTlsFailure(fromGrpcError(error, invite.address), securedChannel({ device, trusted }));
  } finally {
    client.close();
  }
  const inviter = memberOf(response.inviter, inviterIdentity.deviceId);
  if (inviter.fingerprint !== invite.fingerprint) {
    throw new TidemarkError(
      'UNAUTHENTICATED',
      'the inviter answered with a certificate other than the pinned one',
    );
  }
  const members = response.members
    .map((wire) => memberOf(wire, inviter.deviceId))
    .filter((member) => member.deviceId !== library.identity.deviceId);
  if (response.rootDeviceId) await setLibraryRoot(library, response.rootDeviceId);
  // A library that has its signed membership already (a device joining again) keeps it as it is.
  if ((await readMembershipChanges(library)).length === 0) await addMembers(library, [inviter, ...members]);
  return { inviter, members, rootDeviceId: response.rootDeviceId, alreadyMember: response.alreadyMember };
}
