/**
 * A relay may take a new member's ADD and that member's rows while it serves another device.
 * In a backfill the membership type was pulled first; in the follow phase every type streams
 * on its own. Either way the rows can arrive before the ADD that admits their writer: the
 * client then pulls the membership again and asks for the type again, instead of failing it
 * as a forgery (client.ts, `UnknownWriterError`). Rows whose writer the relay cannot show an
 * ADD for stay refused (membership-removal.test.ts, authorize-batch.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { ResourceType } from '@tidemark/proto';
import { Subscription } from 'rxjs';
import { StateBatch, StateRequest } from '@tidemark/proto';
import { SyncEvent, syncFromPeer$ } from '../src/client';
import { Library } from '../src/library';
import { SyncTransport } from '../src/transport';
import { removeTempDirs } from './fixtures';
import { makeDeviceKey } from './device-keys';
import { admitThrough, foundLibrary } from './membership-helpers';
import { wrapRecord } from '../src/records';
import { HookedTransport, until } from './scenario-helpers';
import { countRows, syncUntilCut, transportTo } from './sync-helpers';

afterAll(removeTempDirs);
const open: Library[] = [];
afterEach(async () => {
  for (const library of open.splice(0)) await library.close();
});

/**
 * A relay (the root), an inviter that admits `late`, and `late` with one volume, which the
 * inviter holds; the relay has not heard of `late` yet.
 */
async function world() {
  const relay = await foundLibrary();
  const inviter = await admitThrough(relay, {}, 'inviter');
  open.push(relay.library, inviter.library);
  await syncUntilCut(inviter.library, transportTo(relay.library));
  const late = await admitThrough(inviter, {}, 'late');
  open.push(late.library);
  await syncUntilCut(late.library, transportTo(inviter.library));
  await late.library.write((tx) =>
    tx.put('volume', {
      uuid: randomUUID(),
      deviceUuid: late.id,
      name: 'v',
      mountPoint: '/',
      filesystem: 'ext4',
      capacityBytes: 1,
    }),
  );
  await syncUntilCut(inviter.library, transportTo(late.library));
  const follower = await admitThrough(relay, {}, 'follower');
  open.push(follower.library);
  /** The relay takes `late`'s ADD, then its rows, from the inviter. */
  const relayLearns = () => syncUntilCut(relay.library, transportTo(inviter.library));
  return { relay, follower, relayLearns };
}

test('rows of a member admitted at the relay after this backfill pulled the membership', async () => {
  const { relay, follower, relayLearns } = await world();
  let relayed = false;
  const transport = new HookedTransport(transportTo(relay.library), {
    beforeStream: async (request) => {
      if (!relayed && request.cursors[0].resourceType !== ResourceType.RESOURCE_TYPE_MEMBERSHIP) {
        relayed = true;
        await relayLearns();
      }
    },
  });
  const run = await syncUntilCut(follower.library, transport);
  expect(run.events.filter((e) => e.kind === 'type_failed')).toEqual([]);
  expect(run.error).toBeUndefined();
  expect(await countRows(follower.library, 'volumes')).toBe(1);
});

/** Holds back the membership type's live batches until `release` resolves. */
class SlowMembershipFollow implements SyncTransport {
  constructor(
    private readonly inner: SyncTransport,
    private readonly release: Promise<void>,
  ) {}
  handshake: SyncTransport['handshake'] = (request) => this.inner.handshake(request);
  digest: SyncTransport['digest'] = (request) => this.inner.digest(request);
  async *streamState(request: StateRequest, signal?: AbortSignal): AsyncGenerator<StateBatch> {
    const slow = request.follow && request.cursors[0].resourceType === ResourceType.RESOURCE_TYPE_MEMBERSHIP;
    for await (const batch of this.inner.streamState(request, signal)) {
      if (slow && batch.records.length > 0) await this.release;
      yield batch;
    }
  }
}

test('live rows of a member that outrun its ADD on the membership stream wait for it instead of failing their type', async () => {
  const { relay, follower, relayLearns } = await world();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const events: SyncEvent[] = [];
  let subscription: Subscription | undefined;
  try {
    const backfilled = new Promise<void>((resolve, reject) => {
      subscription = syncFromPeer$(
        follower.library,
        new SlowMembershipFollow(transportTo(relay.library), released),
        {
          follow: true,
        },
      ).subscribe({
        next: (event) => {
          events.push(event);
          if (event.kind === 'backfilled') resolve();
        },
        error: reject,
      });
    });
    await backfilled;
    await relayLearns();
    expect(
      await until(
        () => events.some((e) => e.kind === 'batch' && e.resourceType === 'volume' && e.written > 0),
        20_000,
      ),
    ).toBe(true);
    // Both types that carry rows of the new member waited for the same ADD.
    expect(
      await until(
        () => events.some((e) => e.kind === 'batch' && e.resourceType === 'device' && e.written > 0),
        20_000,
      ),
    ).toBe(true);
    expect(events.filter((e) => e.kind === 'type_failed')).toEqual([]);
    expect(await countRows(follower.library, 'volumes')).toBe(1);
  } finally {
    release();
    subscription?.unsubscribe();
  }
});

test('rows of a device the relay holds no ADD of are refused after one membership catch-up, not asked for again and again', async () => {
  const { relay, follower } = await world();
  const stranger = makeDeviceKey('stranger').deviceId;
  let volumeStreams = 0;
  const transport = new HookedTransport(transportTo(relay.library), {
    beforeStream: (request) => {
      if (request.cursors[0].resourceType === ResourceType.RESOURCE_TYPE_VOLUME) volumeStreams += 1;
    },
    mapBatch: (batch) =>
      batch.resourceType !== ResourceType.RESOURCE_TYPE_VOLUME
        ? batch
        : {
            ...batch,
            records: [
              wrapRecord('volume', {
                uuid: randomUUID(),
                deviceUuid: stranger,
                name: 'forged',
                mountPoint: '/',
                filesystem: 'ext4',
                capacityBytes: 1,
                hlc: { physicalMs: Date.now(), logical: 0 },
                origin: stranger,
              }),
            ],
          },
  });
  const run = await syncUntilCut(follower.library, transport);
  expect(run.events.filter((e) => e.kind === 'type_failed')).toEqual([
    {
      kind: 'type_failed',
      resourceType: 'volume',
      error: expect.objectContaining({ code: 'FORBIDDEN_ROWS' }),
    },
  ]);
  expect(volumeStreams).toBe(1);
  expect(await countRows(follower.library, 'volumes')).toBe(0);
});
