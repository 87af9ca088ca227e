import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Checkpoint,
  Collection,
  ContentIdentity,
  Device,
  Entry,
  EntryKind,
  Location,
  Record,
  ResourceType,
  StateBatch,
  Tag,
  TagAssignment,
  Tombstone,
  Volume,
} from './index';

const hlc = { physicalMs: 1_760_968_800_123, logical: 7 };
const origin = '6f1c2d3e-4b5a-4c6d-8e7f-901234567890';
const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`;

const records: Record[] = [
  {
    kind: {
      $case: 'device',
      value: Device.fromPartial({ uuid: origin, name: 'laptop', os: 'linux', hlc, origin }),
    },
  },
  {
    kind: {
      $case: 'volume',
      value: Volume.fromPartial({
        uuid: uuid(1),
        deviceUuid: origin,
        name: 'disk',
        mountPoint: '/',
        filesystem: 'ext4',
        capacityBytes: 2 ** 40,
        hlc,
        origin,
      }),
    },
  },
  {
    kind: {
      $case: 'location',
      value: Location.fromPartial({
        uuid: uuid(2),
        deviceUuid: origin,
        volumeUuid: uuid(1),
        path: '/home',
        name: 'home',
        hlc,
        origin,
      }),
    },
  },
  {
    kind: {
      $case: 'contentIdentity',
      value: ContentIdentity.fromPartial({
        uuid: uuid(3),
        contentHash: 'ab'.repeat(16),
        sizeBytes: 12,
        mimeType: 'text/plain',
        hlc,
        origin,
      }),
    },
  },
  {
    kind: {
      $case: 'entry',
      value: Entry.fromPartial({
        uuid: uuid(4),
        deviceUuid: origin,
        locationUuid: uuid(2),
        parentUuid: '',
        relativePath: 'docs/ünïcode.txt',
        kind: EntryKind.ENTRY_KIND_FILE,
        sizeBytes: 2 ** 50,
        modifiedAtMs: 1_700_000_000_000,
        contentUuid: uuid(3),
        hlc,
        origin,
      }),
    },
  },
  {
    kind: {
      $case: 'tag',
      value: Tag.fromPartial({ uuid: uuid(5), name: 'holiday', color: '#ff8800', hlc, origin }),
    },
  },
  {
    kind: {
      $case: 'collection',
      value: Collection.fromPartial({ uuid: uuid(6), name: 'best of', description: '', hlc, origin }),
    },
  },
  {
    kind: {
      $case: 'tagAssignment',
      value: TagAssignment.fromPartial({
        uuid: uuid(7),
        tagUuid: uuid(5),
        contentUuid: uuid(3),
        hlc,
        origin,
      }),
    },
  },
];

const batch0Records = () => records.filter((record) => record.kind?.$case === 'entry');

describe('wire round trip', () => {
  test.each(records.map((record) => [record.kind!.$case, record] as const))(
    'a %s record encodes and decodes unchanged',
    (_name, record) => {
      expect(Record.decode(Record.encode(record).finish())).toEqual(record);
    },
  );

  test('a StateBatch with records and tombstones encodes and decodes unchanged', () => {
    const tombstones: Tombstone[] = [
      {
        resourceType: ResourceType.RESOURCE_TYPE_ENTRY,
        uuid: uuid(9),
        hlc: { physicalMs: 1, logical: 65535 },
        origin,
        originSeq: 2 ** 52,
        originEpoch: uuid(12),
      },
      {
        resourceType: ResourceType.RESOURCE_TYPE_ENTRY,
        uuid: uuid(10),
        hlc,
        origin,
        originSeq: 0,
        originEpoch: '',
      },
    ];
    const checkpoint: Checkpoint = {
      resourceType: ResourceType.RESOURCE_TYPE_ENTRY,
      epoch: uuid(11),
      seq: 2 ** 40,
      hlc,
      covered: [{ origin, epoch: uuid(12), seq: 2 ** 53 - 1 }],
      commitId: '0123456789abcdef0123456789abcdef',
    };
    const batch: StateBatch = {
      resourceType: ResourceType.RESOURCE_TYPE_ENTRY,
      records: records.filter((record) => record.kind?.$case === 'entry'),
      tombstones,
      checkpoint,
      remaining: 123_456,
      reset: true,
      caughtUp: false,
      recordOriginSeqs: batch0Records().map((_, index) => (index === 0 ? 0 : 2 ** 40 + index)),
      recordOriginEpochs: batch0Records().map((_, index) => (index === 0 ? 0 : 1)),
      originEpochs: [uuid(12)],
      heldSkipped: 7,
    };
    expect(StateBatch.decode(StateBatch.encode(batch).finish())).toEqual(batch);
  });

  test('an empty StateBatch decodes to the documented zero values', () => {
    expect(StateBatch.decode(new Uint8Array())).toEqual({
      resourceType: ResourceType.RESOURCE_TYPE_UNSPECIFIED,
      records: [],
      tombstones: [],
      checkpoint: undefined,
      remaining: 0,
      reset: false,
      caughtUp: false,
      // What a server that predates origin-aware serving sends: no origins, nothing left out.
      recordOriginSeqs: [],
      recordOriginEpochs: [],
      originEpochs: [],
      heldSkipped: 0,
    });
  });
});

describe('generated public API', () => {
  test('no `any` leaks into the generated declaration files', () => {
    const dist = path.join(__dirname, '..', 'dist', 'gen');
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of fs.readdirSync(dir)) {
        const file = path.join(dir, name);
        if (fs.statSync(file).isDirectory()) walk(file);
        else if (name.endsWith('.d.ts')) {
          fs.readFileSync(file, 'utf8')
            .split('\n')
            .forEach((line, index) => {
              // Code, not comments: doc comments legitimately say "any device may write it".
              if (!/^\s*(\*|\/\/|\/\*)/.test(line) && /\bany\b/.test(line))
                offenders.push(`${name}:${index + 1}: ${line.trim()}`);
            });
        }
      }
    };
    walk(dist);
    expect(offenders).toEqual([]);
  });
});
