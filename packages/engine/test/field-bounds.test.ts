/**
 * Everything stored from a peer has a documented bound (docs/security.md, "Limits"): names at
 * most 256 bytes and paths at most 4096, neither with control characters; epochs are UUIDs.
 * A batch breaking one is rejected whole and its watermark stays.
 */
import { ResourceType, StateBatch } from '@tidemark/proto';
import { createLibrary, removeTempDirs } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { applyBatch } from '../src/apply';
import { Library } from '../src/library';

let library: Library;
const PEER = fixedUuid(7, 7);

beforeAll(async () => {
  library = await createLibrary();
});

afterAll(async () => {
  await library.close();
  removeTempDirs();
});

const hlc = { physicalMs: Date.now(), logical: 0 };
const checkpoint = (type: ResourceType, epoch = fixedUuid(8, 1)) => ({
  resourceType: type,
  epoch,
  seq: 1,
  hlc,
});

function deviceBatch(name: string, epoch?: string): StateBatch {
  return StateBatch.fromPartial({
    resourceType: ResourceType.RESOURCE_TYPE_DEVICE,
    records: [{ kind: { $case: 'device', value: { uuid: PEER, name, os: 'linux', hlc, origin: PEER } } }],
    checkpoint: checkpoint(ResourceType.RESOURCE_TYPE_DEVICE, epoch),
    caughtUp: true,
  });
}

function locationBatch(path: string): StateBatch {
  return StateBatch.fromPartial({
    resourceType: ResourceType.RESOURCE_TYPE_LOCATION,
    records: [
      {
        kind: {
          $case: 'location',
          value: {
            uuid: fixedUuid(3, 1),
            deviceUuid: PEER,
            volumeUuid: '',
            path,
            name: 'docs',
            hlc,
            origin: PEER,
          },
        },
      },
    ],
    checkpoint: checkpoint(ResourceType.RESOURCE_TYPE_LOCATION),
    caughtUp: true,
  });
}

const rejected = (batch: StateBatch) =>
  applyBatch(library, PEER, batch).then(
    () => 'applied',
    (error: Error) => error.message,
  );

test.each([
  ['a terminal escape', 'laptop\u001b[2J'],
  ['a newline', 'laptop\nroot'],
  ['a C1 control', 'laptop\u009b31m'],
  ['257 bytes', 'x'.repeat(257)],
])('a device name with %s is refused', async (_what, name) => {
  expect(await rejected(deviceBatch(name))).toMatch(
    /name must be a string of at most 256 bytes without control characters/,
  );
});

test('a path with a control character or over 4096 bytes is refused', async () => {
  expect(await rejected(locationBatch('/home/a\u001b]0;x\u0007'))).toMatch(
    /path must be .* without control characters/,
  );
  expect(await rejected(locationBatch('/' + 'p'.repeat(4096)))).toMatch(/at most 4096 bytes/);
});

test('a checkpoint epoch that is not a UUID is refused: it would be stored and sent back', async () => {
  expect(await rejected(deviceBatch('laptop', 'e'.repeat(100_000)))).toMatch(
    /epoch .* must be a lowercase hyphenated UUID/,
  );
  expect(await rejected(deviceBatch('laptop', 'not-a-uuid'))).toMatch(/UUID/);
});

test('names and paths within the bounds are taken, whatever their script', async () => {
  expect(await rejected(deviceBatch('ноутбук 日本 🦀'.padEnd(60, 'é')))).toBe('applied');
});
