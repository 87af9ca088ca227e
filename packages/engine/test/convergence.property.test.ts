/**
 * Property: three devices of one library, any interleaving of local writes of owned rows,
 * deletes, concurrent edits of shared rows, syncs between any ordered pair with any batch size,
 * writes committing on any device in the middle of a sync, and connections cut at any point,
 * converge to equal per-type digests once every pair has synced to quiescence. They do so with
 * clocks within the max drift of each other, and with clocks up to a day off each way (no sync
 * ever fails a type, and no device's clock adopts more than the max drift: docs/architecture.md,
 * "Clocks").
 *
 * A failure prints the seed; replay it with `FC_SEED=<seed> npx jest convergence -t '<test name>'`
 * (add `FC_PATH=<path>` from the report to jump straight to the shrunk case).
 */
import { EntryKind } from '@tidemark/proto';
import fc from 'fast-check';
import { createMembers, removeTempDirs } from './fixtures';
import { fixedUuid, HookedTransport } from './scenario-helpers';
import { DigestMap, digestsOf, syncUntilCut, transportTo } from './sync-helpers';
import { compareVersion, DEFAULT_MAX_DRIFT_MS } from '../src/hlc';
import { Library } from '../src/library';
import { ResourceName } from '../src/resource-types';
import { heldVersions } from '../src/store/held-versions';
import { WriteTransaction } from '../src/write-path';

const NUM_RUNS = Number(process.env.FC_RUNS ?? 30);
const SEED = process.env.FC_SEED
  ? Number(process.env.FC_SEED)
  : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
const PATH = process.env.FC_PATH;

const DEVICES = 3;
const POOL = 4; // uuids per type (per device for owned types): small, so edits collide
const MAX_SKEW_MS = 2 * 60_000; // device clocks differ by at most 4 minutes: inside the 5-minute max drift
const DAY_MS = 24 * 3_600_000;
const START = Date.UTC(2025, 9, 20, 14, 0, 0);

type OwnedType = 'volume' | 'location' | 'entry';
type SharedType = 'content_identity' | 'tag' | 'collection' | 'tag_assignment';
const OWNED: readonly OwnedType[] = ['volume', 'location', 'entry'];
const SHARED: readonly SharedType[] = ['content_identity', 'tag', 'collection', 'tag_assignment'];

type WriteCommand =
  | {
      readonly op: 'put_owned';
      readonly device: number;
      readonly type: OwnedType;
      readonly index: number;
      readonly value: number;
    }
  | { readonly op: 'delete_owned'; readonly device: number; readonly type: OwnedType; readonly index: number }
  | {
      readonly op: 'put_shared';
      readonly device: number;
      readonly type: SharedType;
      readonly index: number;
      readonly value: number;
    }
  | {
      readonly op: 'delete_shared';
      readonly device: number;
      readonly type: SharedType;
      readonly index: number;
    };

type Command =
  | WriteCommand
  | { readonly op: 'rename_everywhere'; readonly index: number; readonly value: number }
  /**
   * The server writes a shared row, the client pulls everything and then edits that row: an edit
   * made after seeing a version, which must win everywhere whatever the two clocks say.
   */
  | {
      readonly op: 'edit_after_pull';
      readonly client: number;
      readonly server: number;
      readonly type: SharedType;
      readonly index: number;
      readonly value: number;
    }
  | {
      readonly op: 'sync';
      readonly client: number;
      readonly server: number;
      readonly batchSize: number;
      /** Cut the connection before this many batches were delivered; null: no cut. */
      readonly cutAt: number | null;
      /** A write that commits (on any device) right after the client applied this many batches. */
      readonly during: { readonly afterBatch: number; readonly write: WriteCommand } | null;
    }
  | { readonly op: 'time'; readonly advanceMs: number; readonly device: number; readonly skewMs: number };

const device = fc.integer({ min: 0, max: DEVICES - 1 });
const index = fc.integer({ min: 0, max: POOL - 1 });
const value = fc.integer({ min: 0, max: 1_000 });

const writeCommand: fc.Arbitrary<WriteCommand> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('put_owned' as const),
      device,
      type: fc.constantFrom(...OWNED),
      index,
      value,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('delete_owned' as const),
      device,
      type: fc.constantFrom(...OWNED),
      index,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('put_shared' as const),
      device,
      type: fc.constantFrom(...SHARED),
      index,
      value,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('delete_shared' as const),
      device,
      type: fc.constantFrom(...SHARED),
      index,
    }),
  },
);

/** Commands whose clock steps set a device's skew within ±maxSkewMs. */
const commandWithin = (maxSkewMs: number): fc.Arbitrary<Command> =>
  fc.oneof(
    { weight: 10, arbitrary: writeCommand },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('rename_everywhere' as const), index, value }) },
    {
      weight: 2,
      arbitrary: fc
        .record({
          client: device,
          offset: fc.integer({ min: 1, max: DEVICES - 1 }),
          type: fc.constantFrom(...SHARED),
          index,
          value,
        })
        .map(({ client, offset, ...edit }) => ({
          op: 'edit_after_pull' as const,
          client,
          server: (client + offset) % DEVICES,
          ...edit,
        })),
    },
    {
      weight: 4,
      arbitrary: fc
        .record({
          client: device,
          offset: fc.integer({ min: 1, max: DEVICES - 1 }),
          batchSize: fc.integer({ min: 1, max: 50 }),
          cutAt: fc.option(fc.integer({ min: 0, max: 25 }), { nil: null }),
          during: fc.option(fc.record({ afterBatch: fc.integer({ min: 0, max: 15 }), write: writeCommand }), {
            nil: null,
            freq: 3,
          }),
        })
        .map(({ client, offset, batchSize, cutAt, during }) => ({
          op: 'sync' as const,
          client,
          server: (client + offset) % DEVICES,
          batchSize,
          cutAt,
          during,
        })),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('time' as const),
        advanceMs: fc.integer({ min: 0, max: 10 * 60_000 }),
        device,
        skewMs: fc.integer({ min: -maxSkewMs, max: maxSkewMs }),
      }),
    },
  );

/** Shared wall time plus a per-device skew (which may step a device's clock backwards). */
class Clocks {
  base = START;
  readonly skew: number[];
  /**
   * The highest stamp each device's clock may have adopted so far: the max drift beyond the latest
   * time its wall clock showed. A stamp received within the bound stays legitimate after the wall
   * clock steps back.
   */
  readonly latestCeiling = new Array<number>(DEVICES).fill(0);
  constructor(initialSkews: readonly number[]) {
    this.skew = [...initialSkews];
  }
  nowFor(device: number): () => number {
    return () => {
      const now = this.base + this.skew[device];
      this.latestCeiling[device] = Math.max(this.latestCeiling[device], now + DEFAULT_MAX_DRIFT_MS);
      return now;
    };
  }
}

/**
 * The capped receive rule: a device's clock is never further ahead than the max drift beyond the
 * latest time its own wall clock showed (or shows now), plus 1 ms per 65,536 stamps (the
 * counter's carry; a scenario writes far fewer).
 */
function checkClocksWithinBound(devices: readonly Library[], clocks: Clocks): void {
  devices.forEach((library, d) => {
    const bound = Math.max(clocks.latestCeiling[d], clocks.base + clocks.skew[d] + DEFAULT_MAX_DRIFT_MS) + 1;
    if (library.clock.current.physicalMs > bound) {
      throw new Error(
        `device ${d}'s clock is ${library.clock.current.physicalMs - (clocks.base + clocks.skew[d])} ms ahead of its wall clock, beyond the max drift`,
      );
    }
  });
}

const ownedUuid = (d: number, type: OwnedType, i: number) =>
  fixedUuid(0x100 + d * 16 + OWNED.indexOf(type), i);
const sharedUuid = (type: SharedType, i: number) => fixedUuid(0x200 + SHARED.indexOf(type), i);

async function putOwned(
  tx: WriteTransaction,
  d: number,
  type: OwnedType,
  i: number,
  v: number,
): Promise<void> {
  const owner = tx.deviceId;
  const uuid = ownedUuid(d, type, i);
  if (type === 'volume') {
    await tx.put('volume', {
      uuid,
      deviceUuid: owner,
      name: `v${v}`,
      mountPoint: '/',
      filesystem: 'ext4',
      capacityBytes: v,
    });
  } else if (type === 'location') {
    await tx.put('location', {
      uuid,
      deviceUuid: owner,
      volumeUuid: ownedUuid(d, 'volume', v % POOL),
      path: `/p${v}`,
      name: `l${v}`,
    });
  } else {
    await tx.put('entry', {
      uuid,
      deviceUuid: owner,
      locationUuid: ownedUuid(d, 'location', v % POOL),
      parentUuid: '',
      relativePath: `f${v}`,
      kind: EntryKind.ENTRY_KIND_FILE,
      sizeBytes: v,
      modifiedAtMs: v,
      contentUuid: sharedUuid('content_identity', v % POOL),
    });
  }
}

async function putShared(tx: WriteTransaction, type: SharedType, i: number, v: number): Promise<void> {
  const uuid = sharedUuid(type, i);
  if (type === 'tag') await tx.put('tag', { uuid, name: `tag-${v}`, color: `#${v}` });
  else if (type === 'collection') await tx.put('collection', { uuid, name: `col-${v}`, description: `${v}` });
  else if (type === 'content_identity')
    await tx.put('content_identity', { uuid, contentHash: `h${v}`, sizeBytes: v, mimeType: '' });
  else
    await tx.put('tag_assignment', {
      uuid,
      tagUuid: sharedUuid('tag', v % POOL),
      contentUuid: sharedUuid('content_identity', i),
    });
}

async function sync(
  client: Library,
  server: Library,
  batchSize: number,
  cutAt: number | null,
  during?: { readonly afterBatch: number; readonly run: () => Promise<void> },
): Promise<number> {
  const inner = transportTo(
    server,
    cutAt === null ? {} : { cutBefore: (_batch, delivered) => delivered === cutAt },
  );
  const transport = new HookedTransport(inner, {
    afterBatch: async (_batch, index) => {
      if (during && index + 1 === during.afterBatch) await during.run();
    },
  });
  const run = await syncUntilCut(client, transport, { batchSize });
  if (run.error && !(cutAt !== null && (run.error as { code?: string }).code === 'UNAVAILABLE'))
    throw run.error;
  const failed = run.events.filter((e) => e.kind === 'type_failed');
  if (failed.length) throw new Error(`sync failed types: ${JSON.stringify(failed)}`);
  return run.events.reduce((sum, e) => sum + (e.kind === 'batch' ? e.written : 0), 0);
}

async function runWrite(devices: readonly Library[], cmd: WriteCommand): Promise<void> {
  const library = devices[cmd.device];
  switch (cmd.op) {
    case 'put_owned':
      return library.write((tx) => putOwned(tx, cmd.device, cmd.type, cmd.index, cmd.value));
    case 'delete_owned':
      return library.write((tx) => tx.delete(cmd.type, ownedUuid(cmd.device, cmd.type, cmd.index)));
    case 'put_shared':
      return replacesHeldVersion(library, cmd.type, sharedUuid(cmd.type, cmd.index), () =>
        library.write((tx) => putShared(tx, cmd.type, cmd.index, cmd.value)),
      );
    case 'delete_shared':
      return replacesHeldVersion(library, cmd.type, sharedUuid(cmd.type, cmd.index), () =>
        library.write((tx) => tx.delete(cmd.type, sharedUuid(cmd.type, cmd.index))),
      );
  }
}

/**
 * A local write orders after the version it replaces, whatever the clocks: otherwise the writer
 * keeps its edit while the devices it came from keep the older-looking version, for good.
 */
async function replacesHeldVersion(
  library: Library,
  type: SharedType,
  uuid: string,
  write: () => Promise<void>,
): Promise<void> {
  const versionOf = async () => (await heldVersions(library.db.read, type, [uuid], true)).get(uuid);
  const before = await versionOf();
  await write();
  const after = (await versionOf())!;
  if (before && compareVersion(after.hlc, after.origin, before.hlc, before.origin) <= 0) {
    throw new Error(
      `a local write of ${type} ${uuid} (${after.hlc}) does not order after the version it replaced (${before.hlc})`,
    );
  }
}

async function runScenario(
  commands: readonly Command[],
  initialSkews: readonly number[] = [0, 0, 0],
): Promise<void> {
  const clocks = new Clocks(initialSkews);
  const first = (await createMembers(1, { clock: { now: clocks.nowFor(0) } }))[0];
  const devices = [first];
  try {
    for (let d = 1; d < DEVICES; d++) {
      devices.push(
        (
          await createMembers(1, { libraryId: first.identity.libraryId, clock: { now: clocks.nowFor(d) } })
        )[0],
      );
    }
    for (const cmd of commands) {
      switch (cmd.op) {
        case 'put_owned':
        case 'delete_owned':
        case 'put_shared':
        case 'delete_shared':
          await runWrite(devices, cmd);
          break;
        case 'rename_everywhere':
          // The same tag renamed on every device before any of them syncs: concurrent edits.
          for (const [d, library] of devices.entries()) {
            await library.write((tx) => putShared(tx, 'tag', cmd.index, cmd.value * 10 + d));
          }
          break;
        case 'edit_after_pull':
          await runWrite(devices, { ...cmd, op: 'put_shared', device: cmd.server });
          await sync(devices[cmd.client], devices[cmd.server], 50, null);
          checkClocksWithinBound(devices, clocks);
          await runWrite(devices, { ...cmd, op: 'put_shared', device: cmd.client, value: cmd.value + 1 });
          break;
        case 'sync': {
          const during = cmd.during;
          await sync(
            devices[cmd.client],
            devices[cmd.server],
            cmd.batchSize,
            cmd.cutAt,
            during
              ? { afterBatch: during.afterBatch, run: () => runWrite(devices, during.write) }
              : undefined,
          );
          checkClocksWithinBound(devices, clocks);
          break;
        }
        case 'time':
          clocks.base += cmd.advanceMs;
          clocks.skew[cmd.device] = cmd.skewMs;
          break;
      }
    }

    // Quiesce: every ordered pair, twice; a third round must find nothing left to write.
    for (let round = 0; round < 2; round++) {
      for (let c = 0; c < DEVICES; c++) {
        for (let s = 0; s < DEVICES; s++) if (c !== s) await sync(devices[c], devices[s], 50, null);
      }
    }
    let writtenInLastRound = 0;
    for (let c = 0; c < DEVICES; c++) {
      for (let s = 0; s < DEVICES; s++)
        if (c !== s) writtenInLastRound += await sync(devices[c], devices[s], 50, null);
    }

    checkClocksWithinBound(devices, clocks);
    const digests: DigestMap[] = [];
    for (const library of devices) digests.push(await digestsOf(library));
    const differing = (Object.keys(digests[0]) as ResourceName[]).filter(
      (name) => digests[1][name] !== digests[0][name] || digests[2][name] !== digests[0][name],
    );
    if (differing.length || writtenInLastRound) {
      throw new Error(
        `not converged: types ${differing.join(', ') || 'none'} differ; ${writtenInLastRound} rows written after quiescence\n` +
          differing.map((name) => `  ${name}: ${digests.map((d) => d[name]).join(' | ')}`).join('\n'),
      );
    }
  } finally {
    for (const library of devices) await library.close();
  }
}

afterAll(removeTempDirs);

async function assertProperty<T>(property: fc.IAsyncPropertyWithHooks<T>): Promise<void> {
  try {
    await fc.assert(property, {
      seed: SEED,
      numRuns: NUM_RUNS,
      ...(PATH ? { path: PATH } : {}),
      // Shrinking runs whole scenarios; stop it eventually and report the best counterexample so far.
      interruptAfterTimeLimit: 150_000,
      markInterruptAsFailure: false,
      includeErrorInReport: true,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      `convergence property failed; replay with FC_SEED=${SEED} (and FC_PATH from below)\n${message}`,
    );
  }
}

test('three devices converge to equal per-type digests after any interleaving of writes, deletes, syncs and cuts', async () => {
  await assertProperty(
    fc.asyncProperty(fc.array(commandWithin(MAX_SKEW_MS), { minLength: 1, maxLength: 40 }), (commands) =>
      runScenario(commands),
    ),
  );
}, 200_000);

/** A device's clock offset: a day either way, minutes either way, or right. */
const dayOffset = fc.oneof(
  fc.constantFrom(-DAY_MS, 0, DAY_MS),
  fc.integer({ min: -DAY_MS, max: DAY_MS }),
  fc.integer({ min: -10 * 60_000, max: 10 * 60_000 }),
);

test('three devices with clocks up to a day apart (each way) converge too, and no clock adopts beyond the max drift', async () => {
  await assertProperty(
    fc.asyncProperty(
      fc.tuple(dayOffset, dayOffset, dayOffset),
      fc.array(commandWithin(DAY_MS), { minLength: 1, maxLength: 40 }),
      (offsets, commands) => runScenario(commands, offsets),
    ),
  );
}, 200_000);
