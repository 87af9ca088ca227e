import { isUuid, TidemarkError } from '@tidemark/engine';
import { parseHostPort } from '../address';

/** Everything a joiner needs, printed by `tidemark invite` as one string. */
export interface Invite {
  readonly libraryId: string;
  readonly inviteId: string;
  /** "HOST:PORT" of the inviter's node. */
  readonly address: string;
  /** SHA-256 fingerprint (hex) of the inviter's certificate: the joiner pins it. */
  readonly fingerprint: string;
  readonly secret: Buffer;
  /** Informational: the inviter enforces expiry itself. */
  readonly expiresAtMs: number;
}

const PREFIX = 'tidemark-invite1.';

/** `tidemark-invite1.` + base64url(JSON): one token, no spaces, safe to paste into a shell. */
export function encodeInvite(invite: Invite): string {
  const payload = {
    l: invite.libraryId,
    i: invite.inviteId,
    a: invite.address,
    f: invite.fingerprint,
    s: invite.secret.toString('base64url'),
    e: invite.expiresAtMs,
  };
  return PREFIX + Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

export function decodeInvite(text: string): Invite {
  const bad = (why: string) =>
    new TidemarkError(
      'INVALID_ARGUMENT',
      `not a valid invite (${why}); copy the whole string printed by \`tidemark invite\``,
    );
  const trimmed = text.trim();
  if (!trimmed.startsWith(PREFIX)) throw bad(`it must start with ${PREFIX}`);
  let payload: { [key: string]: unknown };
  try {
    payload = JSON.parse(Buffer.from(trimmed.slice(PREFIX.length), 'base64url').toString('utf8')) as {
      [key: string]: unknown;
    };
  } catch {
    throw bad('it is truncated or altered');
  }
  const { l, i, a, f, s, e } = payload;
  if (!isUuid(l) || !isUuid(i)) throw bad('library or invite id is missing');
  if (typeof a !== 'string') throw bad('address is missing');
  parseHostPort(a, 'invite address');
  if (typeof f !== 'string' || !/^[0-9a-f]{64}$/.test(f)) throw bad('fingerprint is missing');
  if (typeof s !== 'string' || Buffer.from(s, 'base64url').length !== 32) throw bad('secret is missing');
  if (typeof e !== 'number' || !Number.isSafeInteger(e)) throw bad('expiry is missing');
  return {
    libraryId: l,
    inviteId: i,
    address: a,
    fingerprint: f,
    secret: Buffer.from(s, 'base64url'),
    expiresAtMs: e,
  };
}
