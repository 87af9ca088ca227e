/**
 * The membership surface code outside the engine uses: members read, added, removed; invites
 * created and redeemed, where a redemption and the member it admits commit together or not at all.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isTidemarkError } from '../errors';
import { Library } from '../library';
import { createInvite, redeemInvite } from './invites';
import { addMembers, NewMember, readActiveMembers, readMembers, removeMember } from './members';

let library: Library;
let dir: string;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-membership-'));
  library = await Library.create(Library.fileIn(dir));
});

afterEach(async () => {
  await library.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const member = (n: number): NewMember => ({
  deviceId: `00000000-0000-8000-8000-00000000000${n}`,
  fingerprint: String(n).repeat(64),
  certificatePem: `pem ${n}`,
  name: `device ${n}`,
  addedBy: 'test',
});

const ids = (members: readonly { deviceId: string }[]) => members.map((m) => m.deviceId);

async function rejection(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return isTidemarkError(error) ? `${error.code}: ${error.message}` : `not rejected: ${String(error)}`;
}

test('members added together are read back; a removed one stays listed but is no longer active', async () => {
  expect(await readMembers(library)).toEqual([]);
  await addMembers(library, [member(1), member(2)]);
  expect(await readMembers(library)).toMatchObject([
    { ...member(1), removedAtMs: undefined },
    { ...member(2), removedAtMs: undefined },
  ]);
  expect(await removeMember(library, member(1).deviceId)).toBe(true);
  expect(await removeMember(library, member(1).deviceId)).toBe(false); // already removed
  expect(await removeMember(library, member(3).deviceId)).toBe(false); // never a member
  expect(ids(await readActiveMembers(library))).toEqual([member(2).deviceId]);
  const all = await readMembers(library);
  expect(ids(all)).toEqual([member(1).deviceId, member(2).deviceId]);
  expect(all[0].removedAtMs).toBeGreaterThan(0);

  // Pairing again is an explicit act: it re-admits.
  await addMembers(library, [member(1)]);
  expect(ids(await readActiveMembers(library)).sort()).toEqual([member(1).deviceId, member(2).deviceId]);
});

test('an invite admits its holder once; the secret must match; an expired one admits nobody', async () => {
  const secret = randomBytes(32);
  const inviteId = '11111111-1111-4111-8111-111111111111';
  await createInvite(library, {
    inviteId,
    secret,
    address: '127.0.0.1:7400',
    expiresAtMs: Date.now() + 60_000,
  });

  expect(
    await rejection(redeemInvite(library, { inviteId, secret: randomBytes(32), member: member(1) })),
  ).toMatch(/^INVITE_REJECTED: .*wrong secret/);
  expect(await readMembers(library)).toEqual([]);

  await redeemInvite(library, { inviteId, secret, member: member(1) });
  expect(ids(await readActiveMembers(library))).toEqual([member(1).deviceId]);

  // A second joiner with the same invite: refused, and not recorded as a member.
  expect(await rejection(redeemInvite(library, { inviteId, secret, member: member(2) }))).toMatch(
    /^INVITE_REJECTED: this invite was already used/,
  );
  expect(ids(await readMembers(library))).toEqual([member(1).deviceId]);

  const expiredId = '22222222-2222-4222-8222-222222222222';
  await createInvite(library, { inviteId: expiredId, secret, address: 'x:1', expiresAtMs: Date.now() - 1 });
  expect(await rejection(redeemInvite(library, { inviteId: expiredId, secret, member: member(3) }))).toMatch(
    /^INVITE_REJECTED: this invite expired/,
  );
  expect(ids(await readMembers(library))).toEqual([member(1).deviceId]);
});

test('members are read inside a write transaction too', async () => {
  await library.write(async (tx) => {
    expect(await readMembers(tx)).toEqual([]);
  });
  await addMembers(library, [member(4)]);
  await library.write(async (tx) => {
    expect(ids(await readActiveMembers(tx))).toEqual([member(4).deviceId]);
  });
});
