import * as crypto from 'node:crypto';
import { randomBytes, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Library, readMembershipChanges, signGenesis } from '@tidemark/engine';
import { PairingServiceClient, PairRequest, PairResponse } from '@tidemark/proto';
import { deviceSigner, RunningNode } from '../src';
import { CLIENT_OPTIONS } from '../src/grpc/grpc-options';
import { pairingTranscript, signPairing } from '../src/pairing/proof';
import { pinnedChannel } from '../src/tls/client-credentials';
import { removeTempDirs, startTestNode, statusOf } from './helpers';
import { forgeCertificate, ForgeOptions } from './forged-certificates';
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

function pair(
  address: string,
  joiner: SecureDevice,
  request: Partial<PairRequest>,
  to: SecureDevice = inviter,
): Promise<PairResponse> {
  const { certificate } = to.credentials;
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

  // Not idempotent: the invite is spent (another one is open, so the node still pairs).
  await newInvite();
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

test("a joiner's certificate must be self-signed, non-CA, P-256, with a subject no member has", async () => {
  const joiner = await createSecureDevice(inviter.libraryId);
  const invite = await newInvite();
  const inviterSubject = inviter.credentials.certificate.x509.subject.replace(/^CN=/, '');
  const other = forgeCertificate();
  const cases: [string, ForgeOptions, RegExp][] = [
    ['a CA', { ca: true }, /must not be a CA/],
    ['a P-384 key', { curve: 'secp384r1' }, /P-256/],
    [
      'signed by another key',
      { issuer: { key: crypto.createPrivateKey(other.keyPem), name: 'someone' } },
      /self-signed/,
    ],
    ["the inviter's subject", { subject: inviterSubject }, /subject of member/],
    // Every member refuses a membership change whose certificate is larger (validate.ts): signed
    // and stored, the joiner's ADD would stop the inviter's membership stream to all of them.
    ['over 4,096 bytes', { subject: 'x'.repeat(2100) }, /certificate must be 1 to 4096 bytes/],
  ];
  for (const [what, options, reason] of cases) {
    const forged = forgeCertificate(options);
    const request = {
      ...requestFor(joiner, invite),
      certificate: forged.der,
      proof: signPairing(forged.keyPem, pairingTranscript(invite.libraryId, invite.inviteId, invite.secret)),
    };
    const status = await failure(pair(node.address, joiner, request));
    expect({ what, ...status }).toMatchObject({
      what,
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringMatching(reason),
    });
  }
  // The invite was left unspent by every refusal above.
  await expect(pair(node.address, joiner, requestFor(joiner, invite))).resolves.toMatchObject({
    inviter: { deviceId: inviter.deviceId },
  });
});

test('a device name with control characters is refused before the invite is spent', async () => {
  const joiner = await createSecureDevice(inviter.libraryId);
  const invite = await newInvite();
  const escaped = await failure(
    pair(node.address, joiner, {
      ...requestFor(joiner, invite),
      deviceName: 'laptop\u001b[2J\u001b]0;owned\u0007',
    }),
  );
  expect(escaped).toMatchObject({
    code: grpc.status.INVALID_ARGUMENT,
    details: expect.stringMatching(/without control characters/),
  });
  await expect(pair(node.address, joiner, requestFor(joiner, invite))).resolves.toMatchObject({
    inviter: { deviceId: inviter.deviceId },
  });
});

/**
 * A name the signed ADD refuses (a member's name bans U+2028 and U+2029 too) is refused in the
 * transaction that spends the invite, so the invite stays open. It used to be spent first: the
 * joiner's retry with a good name got "already used".
 */
test('a pairing refused when its ADD is signed leaves the invite open for a retry', async () => {
  const founder = await createSecureDevice();
  const library = await Library.open(founder.file);
  await signGenesis(library, deviceSigner(founder.credentials)).finally(() => library.close());
  const signed = await startTestNode(founder.file, { insecure: false });
  try {
    const joiner = await createSecureDevice(founder.libraryId);
    const invite = await issueInvite(signed.library, founder, signed.address);
    const refused = await failure(
      pair(signed.address, joiner, { ...requestFor(joiner, invite), deviceName: 'lap\u2028top' }, founder),
    );
    expect(refused).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringMatching(/without control characters/),
    });
    await expect(pair(signed.address, joiner, requestFor(joiner, invite), founder)).resolves.toMatchObject({
      inviter: { deviceId: founder.deviceId },
    });
    expect((await readMembershipChanges(signed.library)).map((change) => change.subject)).toEqual([
      founder.deviceId,
      joiner.deviceId,
    ]);
  } finally {
    await signed.close();
  }
});

describe('a node of its own', () => {
  let device: SecureDevice;
  let own: RunningNode;
  const pairOwn = (joiner: SecureDevice, request: Partial<PairRequest>) => {
    const { certificate } = device.credentials;
    const pinned = pinnedChannel(joiner.credentials, [
      {
        deviceId: certificate.deviceId,
        fingerprint: certificate.fingerprint,
        certificatePem: certificate.pem,
      },
    ]);
    const client = new PairingServiceClient(own.address, pinned.credentials, {
      ...CLIENT_OPTIONS,
      ...pinned.options,
    });
    return failure(
      new Promise<PairResponse>((resolve, reject) =>
        client.pair(PairRequest.fromPartial(request), (error, response) =>
          error ? reject(error) : resolve(response),
        ),
      ).finally(() => client.close()),
    );
  };

  beforeEach(async () => {
    device = await createSecureDevice();
    own = await startTestNode(device.file, { insecure: false });
  });
  afterEach(() => own.close());

  test('refuses pairing while it has no open invite', async () => {
    const joiner = await createSecureDevice(device.libraryId);
    const guess = { libraryId: device.libraryId, inviteId: randomUUID(), secret: randomBytes(32) };
    const status = await pairOwn(joiner, requestFor(joiner, guess));
    expect(status).toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: expect.stringMatching(/no open invite/),
    });
  });

  test('parallel guesses are counted before any await: exactly 10 are answered, the rest rate limited', async () => {
    const library = await Library.open(device.file);
    try {
      await issueInvite(library, device, own.address);
    } finally {
      await library.close();
    }
    const joiner = await createSecureDevice(device.libraryId);
    const guesses = Array.from({ length: 30 }, () =>
      pairOwn(
        joiner,
        requestFor(joiner, { libraryId: device.libraryId, inviteId: randomUUID(), secret: randomBytes(32) }),
      ),
    );
    const codes = (await Promise.all(guesses)).map((status) => grpc.status[status.code]);
    expect(codes.filter((code) => code === 'PERMISSION_DENIED')).toHaveLength(10);
    expect(codes.filter((code) => code === 'RESOURCE_EXHAUSTED')).toHaveLength(20);
  });
});
