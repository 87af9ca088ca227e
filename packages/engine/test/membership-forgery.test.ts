/**
 * Forged membership changes are rejected by applyBatch with their whole batch: nothing is
 * stored, the watermark stays, and the members do not change. Every device key here is a real
 * P-256 key with its self-signed certificate; every forgery is checked against the same batch
 * carrying an honest change, which is accepted.
 */
import { MembershipAction } from '@tidemark/proto';
import { applyBatch } from '../src/apply';
import { isTidemarkError } from '../src/errors';
import { encodeHlc } from '../src/hlc';
import { Library } from '../src/library';
import { fingerprintOf } from '../src/membership/device-identity';
import { readMembershipChanges, signMemberAdd } from '../src/membership/membership-writes';
import { changeIdOf, changePayload, SignedChange, signChange } from '../src/membership/signed-change';
import { makeDeviceKey } from './device-keys';
import { removeTempDirs } from './fixtures';
import {
  activeIds,
  admitThrough,
  changesBatch,
  Device,
  foundLibrary,
  snapshotOf,
} from './membership-helpers';
import { TickingClock } from './scenario-helpers';
import { syncOnce } from './sync-helpers';

afterAll(removeTempDirs);

const { MEMBERSHIP_ACTION_ADD: ADD, MEMBERSHIP_ACTION_REMOVE: REMOVE } = MembershipAction;

let clock: TickingClock;
let root: Device;
let member: Device;
/** The receiver: a member that holds the membership so far. */
let receiver: Device;

beforeEach(async () => {
  clock = new TickingClock();
  const options = { clock: { now: clock.now } };
  root = await foundLibrary(options);
  member = await admitThrough(root, options);
  receiver = await admitThrough(root, options);
  await syncOnce(receiver.library, root.library, { types: ['membership'] });
  await syncOnce(member.library, root.library, { types: ['membership'] });
});

afterEach(async () => {
  for (const device of [root, member, receiver]) await device.library.close();
});

const libraryIdOf = (library: Library) => library.identity.libraryId;
const stamp = () => encodeHlc({ physicalMs: clock.now(), logical: 0 });

/** An ADD of a new device, signed by `signer` for `libraryId`. */
function addOf(
  signer: { deviceId: string; certificateDer: Buffer; sign(p: Buffer): Buffer },
  libraryId: string,
) {
  const subject = makeDeviceKey('subject');
  return signChange(libraryId, signer, {
    action: ADD,
    subject: subject.deviceId,
    subjectFingerprint: subject.fingerprint,
    certificate: subject.certificateDer,
    name: 'subject',
    legacy: false,
    signer: signer.deviceId,
    hlc: stamp(),
  });
}

/** Applies `changes` from the member to the receiver; returns the error code, or 'applied'. */
async function applyFromMember(changes: readonly SignedChange[]): Promise<string> {
  try {
    await applyBatch(receiver.library, member.id, changesBatch(changes, member.library.identity.epoch, 50));
    return 'applied';
  } catch (error) {
    return isTidemarkError(error) ? error.code : String(error);
  }
}

async function expectRejectedWithNothingStored(changes: readonly SignedChange[], code: string) {
  const before = await snapshotOf(receiver.library, member.id);
  expect(await applyFromMember(changes)).toBe(code);
  expect(await snapshotOf(receiver.library, member.id)).toEqual(before);
}

test('the honest control: an ADD signed by a member is accepted and admits its subject', async () => {
  const change = addOf(member.key.signer, libraryIdOf(root.library));
  expect(await applyFromMember([change])).toBe('applied');
  expect(await activeIds(receiver.library)).toContain(change.subject);
});

test('a change signed by a device that is not a member is refused, with its batch', async () => {
  const stranger = makeDeviceKey('stranger');
  await expectRejectedWithNothingStored(
    [addOf(stranger.signer, libraryIdOf(root.library))],
    'FORBIDDEN_ROWS',
  );
});

test('a device that adds itself is refused unless it is the root', async () => {
  const stranger = makeDeviceKey('stranger');
  const self = signChange(libraryIdOf(root.library), stranger.signer, {
    action: ADD,
    subject: stranger.deviceId,
    subjectFingerprint: stranger.fingerprint,
    certificate: stranger.certificateDer,
    name: 'me',
    legacy: false,
    signer: stranger.deviceId,
    hlc: stamp(),
  });
  await expectRejectedWithNothingStored([self], 'FORBIDDEN_ROWS');
  // Marked legacy, it needs a subject this library has seen (an anchor or a device row): none.
  const legacy = signChange(libraryIdOf(root.library), stranger.signer, {
    ...self,
    legacy: true,
    hlc: stamp(),
  });
  await expectRejectedWithNothingStored([legacy], 'FORBIDDEN_ROWS');
});

test('a change altered after signing is refused: a changed field changes its id; a kept id needs a new signature', async () => {
  const honest = addOf(member.key.signer, libraryIdOf(root.library));
  await expectRejectedWithNothingStored([{ ...honest, name: 'renamed in transit' }], 'MALFORMED_BATCH');
  await expectRejectedWithNothingStored(
    [{ ...honest, legacy: true, signer: honest.subject }],
    'MALFORMED_BATCH',
  );
  // The forger recomputes the id of the altered payload, but cannot sign it.
  const altered = { ...honest, name: 'renamed in transit' };
  const reidentified = { ...altered, uuid: changeIdOf(changePayload(libraryIdOf(root.library), altered)) };
  await expectRejectedWithNothingStored([reidentified], 'FORBIDDEN_ROWS');
  // A signature by another member's key over the same payload.
  const other = signChange(libraryIdOf(root.library), receiver.key.signer, { ...honest, signer: member.id });
  await expectRejectedWithNothingStored([{ ...honest, signature: other.signature }], 'FORBIDDEN_ROWS');
});

test('a change replayed into another library is refused: it was signed for its own library id', async () => {
  const elsewhere = await foundLibrary({ clock: { now: clock.now } });
  try {
    // The same signer, a member here, made the change for the other library.
    const change = addOf(member.key.signer, libraryIdOf(elsewhere.library));
    await expectRejectedWithNothingStored([change], 'MALFORMED_BATCH');
  } finally {
    await elsewhere.library.close();
  }
});

test('an ADD whose certificate is not its subject, or a REMOVE carrying one, is refused', async () => {
  const honest = addOf(member.key.signer, libraryIdOf(root.library));
  const other = makeDeviceKey('other');
  const swapped = signChange(libraryIdOf(root.library), member.key.signer, {
    ...honest,
    certificate: other.certificateDer,
  });
  await expectRejectedWithNothingStored([swapped], 'MALFORMED_BATCH');
  const remove = signChange(libraryIdOf(root.library), member.key.signer, {
    ...honest,
    action: REMOVE,
    name: '',
    subjectFingerprint: fingerprintOf(honest.certificate),
  });
  await expectRejectedWithNothingStored([remove], 'MALFORMED_BATCH');
});

test('one forged change rejects the honest changes of its batch too', async () => {
  const honest = addOf(member.key.signer, libraryIdOf(root.library));
  const stranger = makeDeviceKey('stranger');
  await expectRejectedWithNothingStored(
    [honest, addOf(stranger.signer, libraryIdOf(root.library))],
    'FORBIDDEN_ROWS',
  );
});

test('a change signed by a device admitted earlier in the same batch is accepted (stream order)', async () => {
  const newcomer = makeDeviceKey('newcomer');
  const admitted = signChange(libraryIdOf(root.library), member.key.signer, {
    action: ADD,
    subject: newcomer.deviceId,
    subjectFingerprint: newcomer.fingerprint,
    certificate: newcomer.certificateDer,
    name: 'newcomer',
    legacy: false,
    signer: member.id,
    hlc: stamp(),
  });
  const byNewcomer = addOf(newcomer.signer, libraryIdOf(root.library));
  expect(await applyFromMember([admitted, byNewcomer])).toBe('applied');
  expect(await activeIds(receiver.library)).toEqual(
    expect.arrayContaining([newcomer.deviceId, byNewcomer.subject]),
  );
  // The other way round, the signer is not admitted yet when its change is checked.
  const later = makeDeviceKey('later');
  const laterAdmitted = signChange(libraryIdOf(root.library), member.key.signer, {
    ...admitted,
    subject: later.deviceId,
    subjectFingerprint: later.fingerprint,
    certificate: later.certificateDer,
    hlc: stamp(),
  });
  await expectRejectedWithNothingStored(
    [addOf(later.signer, libraryIdOf(root.library)), laterAdmitted],
    'FORBIDDEN_ROWS',
  );
});

test('a tombstone of a membership change is a malformed batch', async () => {
  const [change] = await readMembershipChanges(root.library);
  const before = await snapshotOf(receiver.library, member.id);
  const batch = changesBatch([], member.library.identity.epoch, 50);
  batch.tombstones.push({
    resourceType: batch.resourceType,
    uuid: change.uuid,
    hlc: { physicalMs: clock.now(), logical: 0 },
    origin: member.id,
    originSeq: 0,
    originEpoch: '',
  });
  await expect(applyBatch(receiver.library, member.id, batch)).rejects.toMatchObject({
    code: 'MALFORMED_BATCH',
  });
  expect(await snapshotOf(receiver.library, member.id)).toEqual(before);
});

test('a change whose origin is not its signer is a malformed batch', async () => {
  const honest = addOf(member.key.signer, libraryIdOf(root.library));
  const before = await snapshotOf(receiver.library, member.id);
  const batch = changesBatch([honest], member.library.identity.epoch, 50);
  const record = batch.records[0].kind;
  if (record?.$case === 'membership') record.value.origin = root.id;
  await expect(applyBatch(receiver.library, member.id, batch)).rejects.toMatchObject({
    code: 'MALFORMED_BATCH',
  });
  expect(await snapshotOf(receiver.library, member.id)).toEqual(before);
});

test('membership changes cannot be put or deleted like rows: only signed through the membership functions', async () => {
  await expect(root.library.write((tx) => tx.delete('membership', root.id))).rejects.toMatchObject({
    code: 'INVALID_ARGUMENT',
  });
  // And a signer that is not this device is refused.
  const stranger = makeDeviceKey('stranger');
  await expect(
    signMemberAdd(root.library, stranger.signer, stranger.certificateDer, 'x'),
  ).rejects.toMatchObject({
    code: 'INVALID_ARGUMENT',
  });
});

test('a change whose record names another origin than its signer is refused, with one sentence saying so', async () => {
  const honest = addOf(member.key.signer, libraryIdOf(root.library));
  const batch = changesBatch([honest], member.library.identity.epoch, 50);
  (batch.records[0].kind!.value as { origin: string }).origin = root.id;
  const before = await snapshotOf(receiver.library, member.id);
  await expect(applyBatch(receiver.library, member.id, batch)).rejects.toThrow(
    `membership batch record 0: origin ${root.id} is not the signer ${member.id}`,
  );
  expect(await snapshotOf(receiver.library, member.id)).toEqual(before);
});

/**
 * Every member refuses a membership change whose certificate is over 4,096 bytes (validate.ts),
 * and a signed change is immutable: signed and stored, such an ADD would stop the signer's
 * membership stream to every member for good. So it is never signed.
 */
test('an ADD whose certificate no member would accept (over 4,096 bytes) is refused before it is signed', async () => {
  const founder = await foundLibrary();
  const large = makeDeviceKey('x'.repeat(2100));
  expect(large.certificateDer.length).toBeGreaterThan(4096);
  await expect(
    signMemberAdd(founder.library, founder.key.signer, large.certificateDer, 'large'),
  ).rejects.toMatchObject({
    code: 'INVALID_ARGUMENT',
    message: expect.stringMatching(/certificate must be 1 to 4096 bytes/),
  });
  expect(await readMembershipChanges(founder.library)).toHaveLength(1);
  await founder.library.close();
});
