/**
 * A peer whose database was restored or recreated has a new epoch, and its seqs number a
 * different history. At the handshake every watermark of that peer restarts from 0 under the new
 * epoch, before any batch: none keeps a seq of the old database, which anything reading
 * watermarks (status, lag against the peer's head) would compare with the new one's seqs.
 */
import * as fs from 'node:fs';
import { StateRequest } from '@tidemark/proto';
import { Library } from '../src/library';
import { RESOURCE_NAMES } from '../src/resource-types';
import { ResourceWatermarkStore } from '../src/watermarks';
import { twoDevicesForEachTest } from './fixtures';
import { fixedUuid, HookedTransport } from './scenario-helpers';
import { syncUntilCut, transportTo } from './sync-helpers';

let a: Library;
let b: Library;
twoDevicesForEachTest((x, y) => ([a, b] = [x, y]));

/** B's watermarks for A, type by type, as "epoch:seq". */
async function marksForA(): Promise<string[]> {
  const marks = await new ResourceWatermarkStore(b.db.read).forPeer(a.identity.deviceId);
  return RESOURCE_NAMES.map((name) => {
    const mark = marks.get(name);
    return mark ? `${mark.peerEpoch}:${mark.lastSeq}` : 'none';
  });
}

test("a peer's new epoch restarts every watermark of that peer from 0 at the handshake", async () => {
  await a.write(async (tx) => {
    for (let n = 1; n <= 5; n++) await tx.put('tag', { uuid: fixedUuid(5, n), name: `tag ${n}`, color: '' });
  });
  expect((await syncUntilCut(b, transportTo(a))).error).toBeUndefined();
  const oldEpoch = a.identity.epoch;
  const before = await marksForA();
  expect(before.every((mark) => mark.startsWith(`${oldEpoch}:`))).toBe(true);
  expect(before.some((mark) => !mark.endsWith(':0'))).toBe(true);

  // Put a copy of the file in its place: same rows, a different file, so a new epoch.
  const file = a.db.file;
  await a.close();
  fs.copyFileSync(file, `${file}.copy`);
  fs.renameSync(`${file}.copy`, file);
  a = await Library.open(file);
  expect(a.identity.epoch).not.toBe(oldEpoch);

  let atFirstStream: string[] | undefined;
  const transport = new HookedTransport(transportTo(a), {
    beforeStream: async (_request: StateRequest) => {
      atFirstStream ??= await marksForA();
    },
  });
  expect((await syncUntilCut(b, transport)).error).toBeUndefined();
  expect(atFirstStream).toEqual(RESOURCE_NAMES.map(() => `${a.identity.epoch}:0`));
  expect((await marksForA()).every((mark) => mark.startsWith(`${a.identity.epoch}:`))).toBe(true);
});
