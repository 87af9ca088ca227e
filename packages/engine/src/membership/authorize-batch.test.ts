/**
 * Authorization of incoming batches: once a library has members, a batch is applied only when
 * it comes from a member and its device-owned rows belong to members. A forged batch is rejected
 * whole: nothing of it is stored and the watermark stays. Random and mutated batches never change
 * what is stored unless applyBatch accepts them.
 */
import { randomUUID } from 'node:crypto';
import * as fc from 'fast-check';
import { Record as WireRecord, ResourceType, StateBatch } from '@tidemark/proto';
import { createLibrary, removeTempDirs } from '../../test/fixtures';
import { digestsOf } from '../../test/sync-helpers';
import { applyBatch } from '../apply';
import { isTidemarkError } from '../errors';
import { Library } from '../library';
import { MemberStore } from './members';
import { wrapRecord } from '../records';
import { ResourceWatermarkStore } from '../watermarks';

let a: Library;
let b: Library;

beforeEach(async () => {
  a = await createLibrary();
  b = await createLibrary({ libraryId: a.identity.libraryId });
});

afterEach(async () => {
  await b.close();
  await a.close();
});

afterAll(removeTempDirs);

async function addMember(library: Library, deviceId: string): Promise<void> {
  await library.db.writeTransaction((sql) =>
    new MemberStore(sql).add(
      {
        deviceId,
        fingerprint: deviceId.replace(/-/g, ''),
        certificatePem: 'test',
        name: '',
        addedBy: 'test',
      },
      Date.now(),
    ),
  );
}

/** A volume batch whose rows claim `owner` and `origin`, as peer `epoch` would serve it. */
function volumeBatch(owner: string, origin: string, epoch: string, count = 3): StateBatch {
  const records: WireRecord[] = [];
  for (let i = 0; i < count; i++) {
    records.push(
      wrapRecord('volume', {
        uuid: randomUUID(),
        deviceUuid: owner,
        name: `forged ${i}`,
        mountPoint: `/mnt/${i}`,
        filesystem: 'ext4',
        capacityBytes: 1,
        hlc: { physicalMs: Date.now(), logical: i },
        origin,
      }),
    );
  }
  return {
    resourceType: ResourceType.RESOURCE_TYPE_VOLUME,
    records,
    tombstones: [],
    checkpoint: {
      resourceType: ResourceType.RESOURCE_TYPE_VOLUME,
      epoch,
      seq: 10,
      hlc: undefined,
      covered: [],
      commitId: '',
    },
    remaining: 0,
    reset: false,
    caughtUp: true,
    recordOriginSeqs: [],
    recordOriginEpochs: [],
    originEpochs: [],
    heldSkipped: 0,
  };
}

async function volumeCount(library: Library): Promise<number> {
  const [row] = await library.db.read.query<{ n: number }>('SELECT count(*) AS n FROM volumes');
  return row.n;
}

describe('forged batches are rejected whole', () => {
  test('rows of device X sent by member Y: X is not a member, nothing is stored, the watermark stays', async () => {
    const peer = a.identity.deviceId;
    const stranger = randomUUID();
    await addMember(b, peer);
    const before = await digestsOf(b);
    await expect(
      applyBatch(b, peer, volumeBatch(stranger, stranger, a.identity.epoch)),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN_ROWS',
      message: expect.stringContaining(stranger),
    });
    expect(await digestsOf(b)).toEqual(before);
    expect(await volumeCount(b)).toBe(0);
    expect(await new ResourceWatermarkStore(b.db.read).get(peer, 'volume')).toBeUndefined();
  });

  test('rows claiming another origin than their owner are rejected even without members', async () => {
    const peer = a.identity.deviceId;
    await expect(
      applyBatch(b, peer, volumeBatch(randomUUID(), peer, a.identity.epoch)),
    ).rejects.toMatchObject({
      code: 'MALFORMED_BATCH',
    });
    expect(await volumeCount(b)).toBe(0);
  });

  test('a peer that is not (or no longer) a member cannot feed the library', async () => {
    const peer = a.identity.deviceId;
    await addMember(b, peer);
    await b.db.writeTransaction((sql) => new MemberStore(sql).remove(peer, Date.now()));
    await addMember(b, randomUUID());
    await expect(applyBatch(b, peer, volumeBatch(peer, peer, a.identity.epoch))).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
    expect(await volumeCount(b)).toBe(0);
  });

  test("a member's own rows, and rows of other members it relays, are applied", async () => {
    const peer = a.identity.deviceId;
    const relayed = randomUUID();
    await addMember(b, peer);
    await addMember(b, relayed);
    await applyBatch(b, peer, volumeBatch(peer, peer, a.identity.epoch));
    await applyBatch(b, peer, volumeBatch(relayed, relayed, a.identity.epoch));
    expect(await volumeCount(b)).toBe(6);
  });

  test('without members (an unpaired, insecure library) behaviour is unchanged: relayed rows apply', async () => {
    const other = randomUUID();
    await applyBatch(b, a.identity.deviceId, volumeBatch(other, other, a.identity.epoch));
    expect(await volumeCount(b)).toBe(3);
  });
});

describe('fuzz: random and mutated batches to applyBatch', () => {
  const template = () =>
    StateBatch.encode(volumeBatch(a.identity.deviceId, a.identity.deviceId, a.identity.epoch)).finish();

  test('applyBatch accepts or rejects with a TidemarkError; a rejected batch changes nothing', async () => {
    await addMember(b, a.identity.deviceId);
    const base = Buffer.from(template());
    const mutated = fc
      .array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 8,
      })
      .map((edits) => {
        const bytes = Buffer.from(base);
        for (const [at, value] of edits) bytes[at] = value;
        return bytes;
      });
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 512 }).map((array) => Buffer.from(array)),
      mutated,
    );
    await fc.assert(
      fc.asyncProperty(bytes, async (wire) => {
        let batch: StateBatch;
        try {
          batch = StateBatch.decode(wire);
        } catch {
          return; // not a message at all: the transport rejects it before apply
        }
        const before = await digestsOf(b);
        const marks = await new ResourceWatermarkStore(b.db.read).forPeer(a.identity.deviceId);
        try {
          await applyBatch(b, a.identity.deviceId, batch);
        } catch (error) {
          expect(isTidemarkError(error)).toBe(true);
          expect(await digestsOf(b)).toEqual(before);
          expect(await new ResourceWatermarkStore(b.db.read).forPeer(a.identity.deviceId)).toEqual(marks);
        }
      }),
      { numRuns: 150 },
    );
  });
});
