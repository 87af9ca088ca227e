import { randomBytes, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Library } from '@tidemark/engine';
import { PairingServiceClient, PairRequest, PairResponse } from '@tidemark/proto';
import { RunningNode } from '../src';
import { CLIENT_OPTIONS } from '../src/grpc/grpc-options';
import { pairingTranscript, signPairing } from '../src/pairing/proof';
import { pinnedChannel } from '../src/tls/client-credentials';
import { removeTempDirs, startTestNode, statusOf } from './helpers';
import { createSecureDevice, issueInvite, SecureDevice } from './tls-helpers';

/** The inviter's checks of `Pair` and their statuses, as docs/protocol.md lists them. */

let inviter: SecureDevice;
let node: RunningNode;

beforeAll(async () => {
  inviter = await createSecureDevice();
  node = await startTestNode(inviter.file, { insecure: false });
});

afterAll(async () => {
  await node?.close();
  removeTempDirs();
});

function pair(address: string, joiner: SecureDevice, request: Partial<PairRequest>): Promise<PairResponse> {
  const { certificate } = inviter.credentials;
  const pinned = pinnedChannel(joiner.credentials, [
    { deviceId: certificate.deviceId, fingerprint: certificate.fingerprint, certificatePem: certificate.pem },
  ]);
  const client = new PairingServiceClient(address, pinned.credentials, {
    ...CLIENT_OPTIONS,
    ...pinned.options,
  });
  return new Promise<PairResponse>((resolve, reject) =>
    client.pair(PairRequest.fromPartial(request), (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  ).finally(() => client.close());
}

/** A well-formed request from `joiner` for an invite, with a valid proof unless overridden. */
function requestFor(
  joiner: SecureDevice,
  invite: { libraryId: string; inviteId: string; secret: Buffer },
): Partial<PairRequest> {
  return {
    libraryId: invite.libraryId,
    inviteId: invite.inviteId,
    secret: invite.secret,
    certificate: joiner.credentials.certificate.der,
    deviceName: 'joiner',
    proof: signPairing(
      joiner.credentials.keyPem,
      pairingTranscript(invite.libraryId, invite.inviteId, invite.secret),
    ),
  };
}

async function newInvite() {
  const library = await Library.open(inviter.file);
  try {
    return await issueInvite(library, inviter, node.address);
  } finally {
    await library.close();
  }
}

const failure = (promise: Promise<unknown>) =>
  promise.then(() => ({ code: grpc.status.OK, details: '' }), statusOf);

test('each refusal has its documented status, and a redeemed invite answers with the pinned inviter once', async () => {
  const joiner = await createSecureDevice(inviter.libraryId);
  const invite = await newInvite();
  const good = requestFor(joiner, invite);

  const otherLibrary = await failure(pair(node.address, joiner, { ...good, libraryId: randomUUID() }));
  expect(otherLibrary.code).toBe(grpc.status.PERMISSION_DENIED);

  const badProof = await failure(pair(node.address, joiner, { ...good, proof: Buffer.alloc(70, 1) }));
  expect(badProof.code).toBe(grpc.status.UNAUTHENTICATED);

  const self = await failure(pair(node.address, joiner, requestFor(inviter, invite)));
  expect(self).toMatchObject({
    code: grpc.status.INVALID_ARGUMENT,
    details: expect.stringMatching(/itself/),
  });

  // An unknown invite and a wrong secret read the same, so invite ids cannot be probed.
  const wrongSecret = await failure(
    pair(node.address, joiner, requestFor(joiner, { ...invite, secret: randomBytes(32) })),
  );
  const unknown = await failure(
    pair(node.address, joiner, requestFor(joiner, { ...invite, inviteId: randomUUID() })),
  );
  expect(wrongSecret.code).toBe(grpc.status.PERMISSION_DENIED);
  expect(unknown).toEqual(wrongSecret);

  const response = await pair(node.address, joiner, good);
  expect(response.inviter).toMatchObject({ deviceId: inviter.deviceId });
  expect(Buffer.from(response.inviter!.certificate)).toEqual(inviter.credentials.certificate.der);

  // Not idempotent: the invite is spent.
  const retried = await failure(pair(node.address, joiner, good));
  expect(retried).toMatchObject({
    code: grpc.status.PERMISSION_DENIED,
    details: expect.stringMatching(/already used/),
  });
});

test('an --insecure node answers FAILED_PRECONDITION', async () => {
  const plain = await createSecureDevice();
  const insecure = await startTestNode(plain.file);
  try {
    const client = new PairingServiceClient(insecure.address, grpc.credentials.createInsecure());
    const status = await failure(
      new Promise((resolve, reject) =>
        client.pair(PairRequest.fromPartial({ libraryId: plain.libraryId }), (error, response) =>
          error ? reject(error) : resolve(response),
        ),
      ).finally(() => client.close()),
    );
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
  } finally {
    await insecure.close();
  }
});
