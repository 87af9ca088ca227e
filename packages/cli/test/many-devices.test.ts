import {
  Library,
  readDigest,
  readMembers,
  readResourceHeads,
  readSkippedRows,
  RESOURCE_NAMES,
  ResourceName,
  resourceTypeOf,
} from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import { freePort, NodeProcess, removeTempDirs, runCli, runCliJson, tempDir, waitFor } from './harness';

/*
 * Libraries of many devices, as real `tidemark` processes over mutual TLS: every device joins
 * through a different member (B through A, C through B, D through C), membership reaches every
 * device by ordinary sync, and removal is library state that every member enforces.
 */

afterAll(removeTempDirs);

/** The machine running CI is shared and slow: conditions get long deadlines, never sleeps. */
const CONVERGE_MS = 180_000;
/** A test waits on several conditions in turn: well above jest's default of 120 s. */
const TEST_MS = 480_000;
const ENTRIES = 40;

interface Device {
  readonly name: string;
  readonly dir: string;
  readonly address: string;
  deviceId: string;
  node?: NodeProcess;
}

async function makeDevices(names: readonly string[]): Promise<Device[]> {
  const devices: Device[] = [];
  for (const name of names) {
    devices.push({
      name,
      dir: tempDir(`tidemark-${name}-`),
      address: `127.0.0.1:${await freePort()}`,
      deviceId: '',
    });
  }
  return devices;
}

const portOf = (device: Device) => Number(device.address.split(':')[1]);

async function withLibraryAt<T>(device: Device, fn: (library: Library) => Promise<T>): Promise<T> {
  const library = await Library.open(Library.fileIn(device.dir));
  try {
    return await fn(library);
  } finally {
    await library.close();
  }
}

/** Writes a volume, two locations and some entries on `device`, beside its running node. */
const generate = (device: Device, seed: number, entries = ENTRIES) =>
  withLibraryAt(device, (library) =>
    writeSyntheticLibrary(library, {
      volumes: 1,
      locations: 2,
      entries,
      seed,
      entriesPerTransaction: entries,
    }),
  );

async function startNode(device: Device, peers: readonly Device[]): Promise<void> {
  device.node = new NodeProcess(
    device.dir,
    portOf(device),
    peers.map((peer) => peer.address),
  );
  await device.node.start(false);
}

async function stopNode(device: Device): Promise<void> {
  await device.node?.stop();
  device.node = undefined;
}

async function invite(inviter: Device): Promise<{ invite: string; inviteId: string }> {
  return runCliJson(['invite', '--library', inviter.dir, '--address', inviter.address]);
}

/** `tidemark join` with the invite on standard input, as the README shows. */
async function join(joiner: Device, inviter: Device): Promise<void> {
  const { invite: text } = await invite(inviter);
  const joined = await runCliJson<{ deviceId: string; inviter: string }>(
    ['join', '--library', joiner.dir, '--name', joiner.name],
    text,
  );
  expect(joined.inviter).toBe(inviter.deviceId);
  joiner.deviceId = joined.deviceId;
}

interface MemberState {
  readonly active: boolean;
  readonly addedBy: string;
}

const membersOf = (device: Device): Promise<Map<string, MemberState>> =>
  withLibraryAt(
    device,
    async (library) =>
      new Map(
        (await readMembers(library)).map((member) => [
          member.deviceId,
          { active: member.removedAtMs === undefined, addedBy: member.addedBy },
        ]),
      ),
  );

/** Whether `device` counts `subject` as a member (true), as removed (false), or does not know it. */
const statusAt = async (device: Device, subject: Device): Promise<boolean | undefined> =>
  (await membersOf(device)).get(subject.deviceId)?.active;

type Digests = { [N in ResourceName]: string };

const digestsOf = (device: Device): Promise<Digests> =>
  withLibraryAt(device, async (library) => {
    const out: Partial<Digests> = {};
    for (const name of RESOURCE_NAMES) {
      const digest = await readDigest(library, name);
      out[name] = `${digest.rowCount}/${digest.tombstoneCount}/${Buffer.from(digest.hash).toString('hex')}`;
    }
    return out as Digests;
  });

const rowsOf = (device: Device, name: ResourceName): Promise<number> =>
  withLibraryAt(device, async (library) => {
    const heads = await readResourceHeads(library);
    return heads.find((head) => head.resourceType === resourceTypeOf(name))?.rowCount ?? 0;
  });

/** Waits until every device holds the same rows of every type, `entries` entries among them. */
async function converged(devices: readonly Device[], entries: number, what: string): Promise<Digests> {
  let last = '';
  await waitFor(
    async () => {
      const all = await Promise.all(devices.map(digestsOf));
      const counts = await Promise.all(devices.map((device) => rowsOf(device, 'entry')));
      last = devices.map((device, i) => `${device.name}: ${counts[i]} entries`).join(', ');
      return (
        counts.every((count) => count === entries) &&
        all.every((d) => JSON.stringify(d) === JSON.stringify(all[0]))
      );
    },
    CONVERGE_MS,
    what,
    500,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last seen: ${last}`);
  });
  return digestsOf(devices[0]);
}

/** Devices join one through another; the node of each inviter runs, configured by `peersOf`. */
async function joinInTurn(devices: readonly Device[], peersOf: (device: Device) => Device[]): Promise<void> {
  const [first, ...rest] = devices;
  first.deviceId = (await runCliJson<{ deviceId: string }>(['init', '--library', first.dir])).deviceId;
  await generate(first, 1);
  await startNode(first, peersOf(first));
  let inviter = first;
  for (const [i, joiner] of rest.entries()) {
    await join(joiner, inviter);
    await generate(joiner, i + 2);
    await startNode(joiner, peersOf(joiner));
    // The joiner invites next: it must have received the membership (its own ADD among it).
    await waitFor(
      async () => (await statusAt(joiner, joiner)) === true,
      CONVERGE_MS,
      `${joiner.name} to hold its membership`,
    );
    inviter = joiner;
  }
}

async function stopAll(devices: readonly Device[]): Promise<void> {
  await Promise.all(devices.map(stopNode));
}

/** Exit code of a one-shot `tidemark sync` from `from` to `to` (5: refused). */
const syncExit = async (from: Device, to: Device) =>
  (await runCli(['sync', '--library', from.dir, '--peer', to.address])).code;

describe('four devices, each joined through another member', () => {
  let chain: Device[];

  afterAll(async () => {
    if (chain) await stopAll(chain);
  });

  test(
    'in a chain A-B-C-D every device ends with every device rows and equal digests',
    async () => {
      chain = await makeDevices(['a', 'b', 'c', 'd']);
      const [a, b, c, d] = chain;
      const neighbours = new Map([
        [a, [b]],
        [b, [a, c]],
        [c, [b, d]],
        [d, [c]],
      ]);
      await joinInTurn(chain, (device) => neighbours.get(device)!);
      const digests = await converged(chain, 4 * ENTRIES, 'the chain to converge');
      expect(digests.membership).toMatch(/^4\/0\//); // the founding ADD and three signed ADDs

      // Who added whom is the same everywhere: A founded, then each inviter signed its joiner in.
      const members = await membersOf(a);
      expect([...members.entries()].map(([id, m]) => [id, m.addedBy, m.active]).sort()).toEqual(
        [
          [a.deviceId, a.deviceId, true],
          [b.deviceId, a.deviceId, true],
          [c.deviceId, b.deviceId, true],
          [d.deviceId, c.deviceId, true],
        ].sort(),
      );
      // No pairing beyond the three joins: one invite each from A, B and C, none from D.
      for (const [device, issued] of [
        [a, 1],
        [b, 1],
        [c, 1],
        [d, 0],
      ] as const) {
        expect(await runCliJson<unknown[]>(['invite', 'list', '--library', device.dir])).toHaveLength(issued);
      }
    },
    TEST_MS,
  );

  test(
    'A removes C while D is offline: C is refused everywhere, D learns, E joins through D and backfills',
    async () => {
      const [a, b, c, d] = chain;
      const [e, j] = await makeDevices(['e', 'j']);
      // Stopped by afterAll too: a failed expectation must not leave their nodes running (jest then
      // waits for them, and the whole run with it).
      chain.push(e, j);
      const before = await digestsOf(a);

      // C and D offline; the removal is made on A and reaches B by sync.
      await stopNode(c);
      await stopNode(d);
      expect((await runCli(['peer', 'remove', '--library', a.dir, c.deviceId])).code).toBe(0);
      await waitFor(
        async () => (await statusAt(b, c)) === false,
        CONVERGE_MS,
        'B to learn that C was removed',
      );

      // C comes back not knowing: it writes rows after its removal and admits a device of its own.
      await startNode(c, [b, d]);
      await generate(c, 33, 10);
      await join(j, c);
      expect(await syncExit(c, a)).toBe(5);
      expect(await syncExit(c, b)).toBe(5);
      expect(await syncExit(j, b)).toBe(5);

      // D comes back and first meets only C: it takes C's new rows and J's ADD, not knowing better.
      await startNode(d, [c]);
      await waitFor(
        async () => (await rowsOf(d, 'entry')) === 4 * ENTRIES + 10 && (await statusAt(d, j)) === true,
        CONVERGE_MS,
        "D to take C's rows written after the removal",
      );
      // Then it meets B, which knows: D learns of the removal, and J, signed in by a removed
      // device after its removal, was never a member.
      await stopNode(d);
      await startNode(d, [c, b]);
      await waitFor(
        async () => (await statusAt(d, c)) === false,
        CONVERGE_MS,
        'D to learn that C was removed',
      );
      expect(await statusAt(d, j)).toBe(false);
      await waitFor(async () => (await syncExit(c, d)) === 5, CONVERGE_MS, "D to refuse C's connections");
      expect(await syncExit(j, d)).toBe(5);

      // E joins through D and backfills every type from D alone, without a stall: C's rows from
      // before its removal are history and arrive; those written after are skipped, not stored.
      await join(e, d);
      await startNode(e, [d]);
      await waitFor(
        async () => {
          const [ofE, ofA] = await Promise.all([digestsOf(e), digestsOf(a)]);
          return RESOURCE_NAMES.every(
            (name) => name === 'membership' || name === 'device' || ofE[name] === ofA[name],
          );
        },
        CONVERGE_MS,
        'E to hold what A holds',
      );
      const ofE = await digestsOf(e);
      const ofA = await digestsOf(a);
      expect(ofA.entry).toBe(before.entry); // A never took C's rows written after the removal
      expect(ofE.entry).toBe(before.entry); // E has C's earlier rows, and skipped the later ones
      expect(ofE.location).toBe(before.location);
      const skipped = await withLibraryAt(e, readSkippedRows);
      const skippedFromD = skipped.filter(
        (row) => row.peerDeviceId === d.deviceId && row.reason === 'after_removal',
      );
      expect(skippedFromD.reduce((sum, row) => sum + row.rows, 0)).toBeGreaterThanOrEqual(10);
      expect(await statusAt(e, c)).toBe(false);
      expect(await statusAt(e, j)).toBe(false);

      // C, removed, tries to come back through B with its old identity: refused, invite unspent.
      const forC = await invite(b);
      const rejoin = await runCli(['join', '--library', c.dir], { input: forC.invite });
      expect(rejoin.code).toBe(5);
      expect(rejoin.stderr).toMatch(/removed from this library.*final/);
      const listed = await runCliJson<{ inviteId: string; status: string }[]>([
        'invite',
        'list',
        '--library',
        b.dir,
      ]);
      expect(listed.find((entry) => entry.inviteId === forC.inviteId)?.status).toBe('open');

      await stopAll([e, j]);
    },
    TEST_MS,
  );
});

describe('four devices in a star around A', () => {
  let star: Device[];

  afterAll(async () => {
    if (star) await stopAll(star);
  });

  test(
    'B, C and D each follow only A, joined in turn, and all end with the same rows',
    async () => {
      star = await makeDevices(['a', 'b', 'c', 'd']);
      const [a, ...leaves] = star;
      await joinInTurn(star, (device) => (device === a ? leaves : [a]));
      await converged(star, 4 * ENTRIES, 'the star to converge');
    },
    TEST_MS,
  );
});
