/**
 * Invites as `tidemark invite list` and `invite revoke` see them: listed newest first with their
 * state, a revoked invite refused at redemption with its own reason, a used one not revocable.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isTidemarkError } from '../errors';
import { Library } from '../library';
import { createInvite, readInvites, redeemInvite, revokeInvite } from './invites';
import { readActiveMembers } from './members';

let library: Library;
let dir: string;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-invites-'));
  library = await Library.create(Library.fileIn(dir));
});

afterEach(async () => {
  await library.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const joiner = {
  deviceId: '00000000-0000-8000-8000-000000000001',
  fingerprint: '1'.repeat(64),
  certificatePem: 'pem 1',
  name: 'joiner',
  addedBy: 'test',
};

async function rejection(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return isTidemarkError(error) ? `${error.code}: ${error.message}` : `not rejected: ${String(error)}`;
}

test('invites are listed newest first with when they were used and by whom, or revoked', async () => {
  const secret = randomBytes(32);
  const used = '11111111-1111-4111-8111-111111111111';
  const open = '22222222-2222-4222-8222-222222222222';
  const expiresAtMs = Date.now() + 60_000;
  await createInvite(library, { inviteId: used, secret, address: 'a:1', expiresAtMs });
  await new Promise((resolve) => setTimeout(resolve, 5));
  await createInvite(library, { inviteId: open, secret, address: 'a:2', expiresAtMs });
  await redeemInvite(library, { inviteId: used, secret, member: joiner });

  const listed = await readInvites(library);
  expect(listed.map((invite) => invite.inviteId)).toEqual([open, used]);
  expect(listed[0]).toMatchObject({ address: 'a:2', expiresAtMs, used: undefined, revokedAtMs: undefined });
  expect(listed[1].used).toEqual({ atMs: expect.any(Number), by: joiner.deviceId });
  expect(listed[1].revokedAtMs).toBeUndefined();
  expect(listed[1].createdAtMs).toBeLessThan(listed[0].createdAtMs);
});

test('a revoked invite is refused with its reason and admits nobody; revoking twice says so', async () => {
  const secret = randomBytes(32);
  const inviteId = '33333333-3333-4333-8333-333333333333';
  await createInvite(library, { inviteId, secret, address: 'a:1', expiresAtMs: Date.now() + 60_000 });
  expect(await revokeInvite(library, inviteId)).toBe(true);
  expect(await revokeInvite(library, inviteId)).toBe(false);
  const [listed] = await readInvites(library);
  expect(listed.revokedAtMs).toBeGreaterThan(0);
  expect(listed.used).toBeUndefined();

  expect(await rejection(redeemInvite(library, { inviteId, secret, member: joiner }))).toMatch(
    /^INVITE_REJECTED: this invite was revoked at /,
  );
  expect(await readActiveMembers(library)).toEqual([]);
});

test('a used invite cannot be revoked; an unknown one is NOT_FOUND', async () => {
  const secret = randomBytes(32);
  const inviteId = '44444444-4444-4444-8444-444444444444';
  await createInvite(library, { inviteId, secret, address: 'a:1', expiresAtMs: Date.now() + 60_000 });
  await redeemInvite(library, { inviteId, secret, member: joiner });
  expect(await rejection(revokeInvite(library, inviteId))).toMatch(
    new RegExp(`^FAILED_PRECONDITION: invite ${inviteId} was used by device ${joiner.deviceId}.*peer remove`),
  );
  expect(await rejection(revokeInvite(library, '55555555-5555-4555-8555-555555555555'))).toMatch(
    /^NOT_FOUND: this device issued no invite/,
  );
});
