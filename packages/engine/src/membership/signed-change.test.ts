/**
 * A membership change is signed over a payload that docs/protocol.md spells out byte for byte;
 * its id is derived from that payload, so a receiver in any language can recompute both. The
 * vectors here are the ones protocol.md gives.
 */
import { KeyObject } from 'node:crypto';
import { MembershipAction } from '@tidemark/proto';
import { makeDeviceKey } from '../../test/device-keys';
import { deviceIdOf } from './device-identity';
import {
  changeIdOf,
  changePayload,
  checkChange,
  ChangeContent,
  signChange,
  verifyChange,
  publicKeyOf,
} from './signed-change';

const LIBRARY = '11111111-1111-4111-8111-111111111111';
const REMOVE: ChangeContent = {
  action: MembershipAction.MEMBERSHIP_ACTION_REMOVE,
  subject: '22222222-2222-8222-8222-222222222222',
  subjectFingerprint: 'ab'.repeat(32),
  certificate: Buffer.alloc(0),
  name: '',
  legacy: false,
  signer: '33333333-3333-8333-8333-333333333333',
  hlc: '019abee3ee000007',
};

test("the payload and id of protocol.md's vectors", () => {
  const remove = changePayload(LIBRARY, REMOVE);
  expect(remove.toString('utf8')).toBe(
    'tidemark-membership-v1\n11111111-1111-4111-8111-111111111111\nremove\n' +
      `22222222-2222-8222-8222-222222222222\n${'ab'.repeat(32)}\n\n019abee3ee000007\n` +
      '33333333-3333-8333-8333-333333333333\n',
  );
  expect(changeIdOf(remove)).toBe('9ebaa5ab-6072-871b-8e9d-46c412f18de8');
  const rename = { ...REMOVE, action: MembershipAction.MEMBERSHIP_ACTION_RENAME, name: 'Laptop — Küche' };
  expect(changeIdOf(changePayload(LIBRARY, rename))).toBe('2889f4d9-80b7-8fe4-b61b-9f2291e9e02e');
});

test("an ADD's payload ends with the certificate's DER, and a legacy ADD says so", () => {
  const key = makeDeviceKey();
  const add: ChangeContent = {
    ...REMOVE,
    action: MembershipAction.MEMBERSHIP_ACTION_ADD,
    subject: key.deviceId,
    subjectFingerprint: key.fingerprint,
    certificate: key.certificateDer,
    name: 'laptop',
  };
  const payload = changePayload(LIBRARY, add);
  expect(payload.subarray(payload.length - key.certificateDer.length)).toEqual(key.certificateDer);
  expect(payload.toString('utf8').split('\n')[2]).toBe('add');
  expect(
    changePayload(LIBRARY, { ...add, legacy: true })
      .toString('utf8')
      .split('\n')[2],
  ).toBe('legacy-add');
});

test("a change verifies with its signer's key only, and every field is covered by its id", () => {
  const signer = makeDeviceKey('signer');
  const subject = makeDeviceKey('subject');
  const change = signChange(LIBRARY, signer.signer, {
    action: MembershipAction.MEMBERSHIP_ACTION_ADD,
    subject: subject.deviceId,
    subjectFingerprint: subject.fingerprint,
    certificate: subject.certificateDer,
    name: 'subject',
    legacy: false,
    signer: signer.deviceId,
    hlc: '019abee3ee000007',
  });
  expect(checkChange(LIBRARY, change)).toBeUndefined();
  const keyOf = (der: Buffer): KeyObject => {
    const key = publicKeyOf(der);
    if (typeof key === 'string') throw new Error(key);
    return key;
  };
  expect(verifyChange(LIBRARY, change, keyOf(signer.certificateDer))).toBe(true);
  expect(verifyChange(LIBRARY, change, keyOf(subject.certificateDer))).toBe(false);
  for (const altered of [
    { name: 'other' },
    { hlc: '019abee3ee000008' },
    { signer: subject.deviceId },
    { legacy: true },
    { action: MembershipAction.MEMBERSHIP_ACTION_RENAME, certificate: Buffer.alloc(0) },
  ]) {
    expect(checkChange(LIBRARY, { ...change, ...altered })).toBeDefined();
  }
  expect(checkChange('44444444-4444-4444-8444-444444444444', change)).toMatch(/another library/);
  expect(deviceIdOf(subject.certificateDer)).toBe(change.subject);
});
