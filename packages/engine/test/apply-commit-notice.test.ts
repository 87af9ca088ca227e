/**
 * An apply that wrote something tells this process's followers at once (`commits$`, with the new
 * head), without waiting for the poll; an apply that wrote nothing (every item already held) says
 * nothing. The poll would hide a missing notice behind up to `pollIntervalMs` of latency.
 */
import { StateBatch } from '@tidemark/proto';
import { applyBatch, applyBatches } from '../src/apply';
import { Library } from '../src/library';
import { wrapRecord } from '../src/records';
import { resourceTypeOf } from '../src/resource-types';
import { createLibrary, removeTempDirs, TestClock } from './fixtures';
import { fixedUuid } from './scenario-helpers';

let clock: TestClock;
let a: Library;
let b: Library;

beforeEach(async () => {
  clock = new TestClock();
  a = await createLibrary({ clock: { now: clock.now } });
  b = await createLibrary({ libraryId: a.identity.libraryId, clock: { now: clock.now } });
});

afterEach(async () => {
  await b.close();
  await a.close();
});

afterAll(removeTempDirs);

function tags(first: number, count: number, seq: number): StateBatch {
  return {
    resourceType: resourceTypeOf('tag'),
    records: Array.from({ length: count }, (_, i) =>
      wrapRecord('tag', {
        uuid: fixedUuid(5, first + i),
        name: `tag ${first + i}`,
        color: '',
        hlc: { physicalMs: clock.ms, logical: first + i },
        origin: a.identity.deviceId,
      }),
    ),
    tombstones: [],
    checkpoint: {
      resourceType: resourceTypeOf('tag'),
      epoch: a.identity.epoch,
      seq,
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

/** What `commits$` emits while `apply` runs. */
async function noticesDuring(apply: () => Promise<unknown>): Promise<number[]> {
  const notices: number[] = [];
  const subscription = b.commits$.subscribe((head) => notices.push(head));
  try {
    await apply();
  } finally {
    subscription.unsubscribe();
  }
  return notices;
}

test('an apply that writes announces its new head; one that writes nothing announces nothing', async () => {
  const before = await b.headSeq();
  expect(await noticesDuring(() => applyBatch(b, a.identity.deviceId, tags(0, 3, 3)))).toEqual([before + 3]);
  expect(await b.headSeq()).toBe(before + 3);
  // The same rows again: skipped, the watermark still moves, no seq is taken.
  expect(await noticesDuring(() => applyBatch(b, a.identity.deviceId, tags(0, 3, 4)))).toEqual([]);
  expect(await b.headSeq()).toBe(before + 3);
});

test('batches applied together announce once, with the head after all of them', async () => {
  const before = await b.headSeq();
  const notices = await noticesDuring(() =>
    applyBatches(b, a.identity.deviceId, [tags(0, 2, 2), tags(2, 2, 4), tags(0, 2, 4)]),
  );
  expect(notices).toEqual([before + 4]);
});

test('an apply wakes the followers of the types it wrote, and only those', async () => {
  // No commit watch: what wakes a follower here is the apply's own notice.
  const quiet = await createLibrary({
    libraryId: a.identity.libraryId,
    clock: { now: clock.now },
    commitNotifications: false,
    fallbackPollMs: 3_600_000,
  });
  try {
    const before = await quiet.headSeq();
    const heard: string[] = [];
    const followers = (['tag', 'collection'] as const).map((name) =>
      quiet.changesOf$(name).subscribe((head) => heard.push(`${name} ${head}`)),
    );
    await applyBatch(quiet, a.identity.deviceId, tags(0, 2, 2));
    for (const follower of followers) follower.unsubscribe();
    expect(heard).toEqual([`tag ${before + 2}`]);
  } finally {
    await quiet.close();
  }
});
