/**
 * The members of a library are one deterministic function of the set of stored changes: every
 * device computes the same membership whatever order the changes reached it in; a removal is
 * final (it wins over a concurrent add and nothing revives the identity); changes of a removed
 * signer made after its removal do nothing. The changes here are unsigned: the derivation never
 * looks at signatures (apply checks them before a change is stored).
 *
 * A failure prints the seed; replay it with `FC_SEED=<seed> npx jest derive-members`.
 */
import fc from 'fast-check';
import { MembershipAction } from '@tidemark/proto';
import { encodeHlc } from '../hlc';
import { deriveMembers } from './derive-members';
import { SignedChange } from './signed-change';

const SEED = process.env.FC_SEED
  ? Number(process.env.FC_SEED)
  : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;

const {
  MEMBERSHIP_ACTION_ADD: ADD,
  MEMBERSHIP_ACTION_REMOVE: REMOVE,
  MEMBERSHIP_ACTION_RENAME: RENAME,
} = MembershipAction;

const device = (n: number) => `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`;
const ROOT = device(0);
let counter = 0;

function change(
  action: MembershipAction,
  signer: string,
  subject: string,
  ms: number,
  extra: Partial<SignedChange> = {},
): SignedChange {
  counter += 1;
  return {
    uuid: `c0000000-0000-8000-8000-${String(counter).padStart(12, '0')}`,
    action,
    subject,
    subjectFingerprint: subject.replace(/-/g, '').padEnd(64, '0'),
    certificate: action === ADD ? Buffer.from(subject) : Buffer.alloc(0),
    name: action === REMOVE ? '' : `name of ${subject.slice(-2)} at ${ms}`,
    legacy: false,
    signer,
    signature: Buffer.from('signature'),
    hlc: encodeHlc({ physicalMs: ms, logical: 0 }),
    ...extra,
  };
}

const statusOf = (changes: readonly SignedChange[], seeds: readonly string[] = [ROOT]) =>
  Object.fromEntries([...deriveMembers(changes, new Set(seeds)).values()].map((m) => [m.deviceId, m.status]));

const genesis = () => change(ADD, ROOT, ROOT, 1000);

test('a removal wins over a concurrent add, whichever is stamped first', () => {
  const [a, b, c] = [device(1), device(2), device(3)];
  const base = [
    genesis(),
    change(ADD, ROOT, a, 1001),
    change(ADD, ROOT, b, 1002),
    change(ADD, ROOT, c, 1003),
  ];
  // A removes C while B (not knowing) adds C again: before and after the removal's stamp.
  for (const addAt of [1004, 1010]) {
    const changes = [...base, change(REMOVE, a, c, 1005), change(ADD, b, c, addAt)];
    expect(statusOf(changes)[c]).toBe('removed');
  }
});

test('re-adding a removed identity never revives it, by any member, at any later stamp', () => {
  const [a, c] = [device(1), device(3)];
  const changes = [
    genesis(),
    change(ADD, ROOT, a, 1001),
    change(ADD, ROOT, c, 1002),
    change(REMOVE, a, c, 1003),
    change(ADD, ROOT, c, 2000),
    change(ADD, a, c, 3000),
    change(ADD, c, device(9), 3001), // C has no say after the re-adds either
  ];
  const members = deriveMembers(changes, new Set([ROOT]));
  expect(members.get(device(9))?.status).toBe('voided');
  const member = members.get(c);
  expect(member).toMatchObject({
    status: 'removed',
    refusedFromHlc: encodeHlc({ physicalMs: 1003, logical: 0 }),
  });
});

test("a removed member's changes after its removal are void; before it they stand", () => {
  const [a, c, d, e] = [device(1), device(3), device(4), device(5)];
  const changes = [
    genesis(),
    change(ADD, ROOT, a, 1001),
    change(ADD, ROOT, c, 1002),
    change(ADD, c, d, 1003), // before C's removal: D stays a member
    change(REMOVE, a, c, 1004),
    change(ADD, c, e, 1005), // after: E was never admitted
    change(REMOVE, c, a, 1006), // after: A is not removed
    change(RENAME, c, d, 1007, { name: 'renamed by a removed member' }),
  ];
  const members = deriveMembers(changes, new Set([ROOT]));
  expect(statusOf(changes)).toEqual({
    [ROOT]: 'active',
    [a]: 'active',
    [c]: 'removed',
    [d]: 'active',
    [e]: 'voided',
  });
  expect(members.get(d)?.name).toBe(`name of ${d.slice(-2)} at 1003`);
  expect(members.get(e)?.refusedFromHlc).toBe(encodeHlc({ physicalMs: 0, logical: 0 }));
});

test('an identity admitted only by a void ADD has no say: its removal of the root does nothing', () => {
  const [a, c, x] = [device(1), device(3), device(9)];
  const changes = [
    genesis(),
    change(ADD, ROOT, a, 1001),
    change(ADD, ROOT, c, 1002),
    change(REMOVE, a, c, 1003),
    change(ADD, c, x, 1004), // void: C was removed
    change(REMOVE, x, ROOT, 1005),
    change(REMOVE, x, a, 1006),
  ];
  expect(statusOf(changes)).toEqual({ [ROOT]: 'active', [a]: 'active', [c]: 'removed', [x]: 'voided' });
});

test('without a seed nothing is effective: changes of a library whose root is unknown admit nobody', () => {
  const a = device(1);
  expect(statusOf([genesis(), change(ADD, ROOT, a, 1001)], [])).toEqual({ [ROOT]: 'voided', [a]: 'voided' });
});

test('the subjects of legacy self-signed ADDs are seeds: their ADDs of others stand', () => {
  const [l, m] = [device(7), device(8)];
  const changes = [change(ADD, l, l, 1000, { legacy: true }), change(ADD, l, m, 1001)];
  expect(statusOf(changes, [l])).toEqual({ [l]: 'active', [m]: 'active' });
});

test('a name is the one of the effective ADD or RENAME with the highest stamp', () => {
  const a = device(1);
  const changes = [
    genesis(),
    change(ADD, ROOT, a, 1001, { name: 'first' }),
    change(RENAME, ROOT, a, 1003, { name: 'third' }),
    change(RENAME, ROOT, a, 1002, { name: 'second' }),
  ];
  expect(deriveMembers(changes, new Set([ROOT])).get(a)?.name).toBe('third');
});

/** A history as devices make it: each change is signed by a device that is a member to it. */
const history = fc
  .array(
    fc.record({
      action: fc.constantFrom(ADD, ADD, REMOVE, RENAME),
      signer: fc.nat({ max: 7 }),
      subject: fc.nat({ max: 7 }),
      // Stamps collide often: ties are broken by the change id.
      ms: fc.integer({ min: 1001, max: 1030 }),
    }),
    { minLength: 1, maxLength: 30 },
  )
  .map((steps) => [
    genesis(),
    ...steps
      .filter((step) => step.signer !== step.subject)
      .map((step) => change(step.action, device(step.signer), device(step.subject), step.ms)),
  ]);

test('any permutation of a set of changes yields the same members, names and removal stamps', () => {
  fc.assert(
    fc.property(
      history.chain((changes) =>
        fc.tuple(fc.constant(changes), fc.shuffledSubarray(changes, { minLength: changes.length })),
      ),
      ([changes, shuffled]) => {
        const expected = deriveMembers(changes, new Set([ROOT]));
        expect(deriveMembers(shuffled, new Set([ROOT]))).toEqual(expected);
        expect(deriveMembers([...changes].reverse(), new Set([ROOT]))).toEqual(expected);
      },
    ),
    { seed: SEED, numRuns: 300 },
  );
});

test('in any history, an identity with an effective REMOVE is removed whatever ADDs of it exist', () => {
  fc.assert(
    fc.property(history, fc.nat({ max: 7 }), fc.integer({ min: 1001, max: 1040 }), (changes, who, at) => {
      const subject = device(who);
      const members = deriveMembers(changes, new Set([ROOT]));
      if (members.get(subject)?.status !== 'removed') return;
      // An ADD by every other member, at any stamp, changes nothing.
      const readds = [...members.values()]
        .filter((m) => m.status === 'active' && m.deviceId !== subject)
        .map((m) => change(ADD, m.deviceId, subject, at));
      expect(deriveMembers([...changes, ...readds], new Set([ROOT])).get(subject)?.status).toBe('removed');
    }),
    { seed: SEED, numRuns: 300 },
  );
});
