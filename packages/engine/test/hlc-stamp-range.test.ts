/**
 * Which HLC stamps exist. The stored format holds any 48-bit time and 16-bit counter, zero
 * included: the floor of a library that has stamped nothing is `ZERO_HLC`. A row or tombstone
 * is never stamped at physical time 0, because no real clock reads it, so a received one at 0 is
 * refused; the bounds checked on receipt are the ones the encoding has.
 */
import { ResourceType, StateBatch } from '@tidemark/proto';
import { applyBatch } from '../src/apply';
import { MalformedBatchError } from '../src/errors';
import {
  decodeHlc,
  encodeHlc,
  HlcStamp,
  MAX_LOGICAL,
  MIN_STAMP_PHYSICAL_MS,
  PHYSICAL_MS_LIMIT,
  ZERO_HLC,
} from '../src/hlc';
import { parseLegacyHlc } from '../src/store/migrations/legacy-schema';
import { validateHlc } from '../src/validate';
import { createLibrary, removeTempDirs } from './fixtures';
import { fixedUuid } from './scenario-helpers';

afterAll(removeTempDirs);

const encodes = (stamp: HlcStamp) => {
  try {
    return decodeHlc(encodeHlc(stamp));
  } catch {
    return 'refused';
  }
};

describe('stamps', () => {
  it('physical time 0 is representable: it is the floor of a library that has stamped nothing', () => {
    expect(MIN_STAMP_PHYSICAL_MS).toBe(1);
    expect(encodeHlc(ZERO_HLC)).toBe('0000000000000000');
    expect(encodes({ physicalMs: 0, logical: 7 })).toEqual({ physicalMs: 0, logical: 7 });
  });

  it('a received stamp at physical time 0 is refused, whatever its counter', () => {
    for (const logical of [0, 1, MAX_LOGICAL]) {
      expect(validateHlc({ physicalMs: 0, logical })).toBe('hlc.physical_ms 0 is out of range');
    }
    expect(validateHlc({ physicalMs: MIN_STAMP_PHYSICAL_MS, logical: 0 })).toBeUndefined();
    // The legacy migration draws the same line: a legacy "0:counter:device" is not a version.
    expect(parseLegacyHlc(`0:0:${fixedUuid(1, 1)}`)).toBeUndefined();
    expect(parseLegacyHlc(`1:0:${fixedUuid(1, 1)}`)).toBeDefined();
  });

  it('a received stamp is accepted exactly when it encodes, above physical time 0', () => {
    const edges: HlcStamp[] = [
      { physicalMs: 1, logical: MAX_LOGICAL },
      { physicalMs: 1, logical: MAX_LOGICAL + 1 },
      { physicalMs: 1, logical: -1 },
      { physicalMs: PHYSICAL_MS_LIMIT - 1, logical: MAX_LOGICAL },
      { physicalMs: PHYSICAL_MS_LIMIT, logical: 0 },
      { physicalMs: 1.5, logical: 0 },
      { physicalMs: 2, logical: 0.5 },
      { physicalMs: -1, logical: 0 },
    ];
    for (const stamp of edges) {
      expect([stamp, validateHlc(stamp) === undefined]).toEqual([stamp, encodes(stamp) !== 'refused']);
    }
    expect(validateHlc({ physicalMs: 1, logical: MAX_LOGICAL + 1 })).toBe(
      `hlc.logical ${MAX_LOGICAL + 1} is out of range 0..${MAX_LOGICAL}`,
    );
  });

  it('apply refuses a batch with a row or a tombstone stamped at physical time 0', async () => {
    const library = await createLibrary();
    const peer = fixedUuid(9, 1);
    const batch = (zeroOn: 'record' | 'tombstone'): StateBatch => ({
      resourceType: ResourceType.RESOURCE_TYPE_TAG,
      records: [
        {
          kind: {
            $case: 'tag',
            value: {
              uuid: fixedUuid(5, 1),
              name: 'holiday',
              color: '',
              hlc: { physicalMs: zeroOn === 'record' ? 0 : 1, logical: 0 },
              origin: peer,
            },
          },
        },
      ],
      tombstones: [
        {
          resourceType: ResourceType.RESOURCE_TYPE_TAG,
          uuid: fixedUuid(5, 2),
          hlc: { physicalMs: zeroOn === 'tombstone' ? 0 : 1, logical: 0 },
          origin: peer,
          originSeq: 0,
          originEpoch: '',
        },
      ],
      checkpoint: {
        resourceType: ResourceType.RESOURCE_TYPE_TAG,
        epoch: fixedUuid(8, 1),
        seq: 2,
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
    });
    try {
      for (const zeroOn of ['record', 'tombstone'] as const) {
        await expect(applyBatch(library, peer, batch(zeroOn))).rejects.toThrow(MalformedBatchError);
        await expect(applyBatch(library, peer, batch(zeroOn))).rejects.toThrow(
          /physical_ms 0 is out of range/,
        );
      }
      const [{ n }] = await library.db.read.query<{ n: number }>(
        "SELECT (SELECT count(*) FROM tags) + (SELECT count(*) FROM tombstones WHERE resource_type = 'tag') AS n",
      );
      expect(n).toBe(0);
    } finally {
      await library.close();
    }
  });
});
