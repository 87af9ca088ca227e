/**
 * Sync state read without SQL: heads, row counts, watermarks, peer heads and digests, the
 * watermark reset that repair uses, and the health checks `tidemark doctor` words.
 */
import {
  checkLibraryHealth,
  digestsEqual,
  HealthFinding,
  Library,
  readDigest,
  readPeerHeads,
  readResourceHeads,
  readRowCountsByOwner,
  readWatermarks,
  resetWatermarks,
  RESOURCE_NAMES,
  resourceNameOf,
} from '../src';
import { encodeHlc } from '../src/hlc';
import { PeerHeadStore } from '../src/peer-heads';
import { forgetRows } from '../src/testing';
import { twoDevicesForEachTest } from './fixtures';
import { copyLegacyFixture, rawQuery } from './legacy-fixture';
import { fixedUuid } from './scenario-helpers';
import { syncOnce } from './sync-helpers';

let a: Library;
let b: Library;
twoDevicesForEachTest((x, y) => ([a, b] = [x, y]));

async function writeTags(library: Library, namespace: number, count: number): Promise<void> {
  await library.write(async (tx) => {
    for (let n = 0; n < count; n++)
      await tx.put('tag', { uuid: fixedUuid(namespace, n), name: `t${n}`, color: '' });
  });
}

const kinds = (findings: readonly HealthFinding[]) => findings.map((f) => `${f.kind}:${f.severity}`);

test('heads and row counts per owner follow writes and deletes', async () => {
  await writeTags(a, 1, 5);
  await a.write((tx) => tx.delete('tag', fixedUuid(1, 0)));
  const heads = await readResourceHeads(a);
  expect(heads.map((h) => resourceNameOf(h.resourceType))).toEqual(RESOURCE_NAMES);
  const tag = heads.find((h) => resourceNameOf(h.resourceType) === 'tag')!;
  expect(tag).toMatchObject({ rowCount: 4, tombstoneCount: 1, seq: await a.headSeq() });
  const counts = await readRowCountsByOwner(a);
  expect(counts).toEqual(
    expect.arrayContaining([
      { resourceType: 'device', owner: a.identity.deviceId, rows: 1 },
      { resourceType: 'tag', owner: 'shared', rows: 4 },
    ]),
  );
});

test('watermarks and peer heads after a sync; a digest equal to the peer’s; a reset restarts only the named types', async () => {
  await writeTags(a, 1, 3);
  await a.write((tx) => tx.put('collection', { uuid: fixedUuid(2, 1), name: 'c', description: '' }));
  expect(await readWatermarks(b)).toEqual([]);
  expect(await readPeerHeads(b)).toEqual([]);
  await syncOnce(b, a);

  const marks = await readWatermarks(b);
  expect(marks.map((m) => m.resourceType)).toEqual(RESOURCE_NAMES);
  expect(marks.every((m) => m.peerDeviceId === a.identity.deviceId && m.peerEpoch === a.identity.epoch)).toBe(
    true,
  );
  const tagMark = marks.find((m) => m.resourceType === 'tag')!;
  const aHeads = await readResourceHeads(a);
  const aTag = aHeads.find((h) => resourceNameOf(h.resourceType) === 'tag')!;
  expect(tagMark.lastSeq).toBe(aTag.seq);
  expect(tagMark.lastHlc).toBe(encodeHlc(aTag.maxHlc!));
  const peerTag = (await readPeerHeads(b)).find((h) => h.resourceType === 'tag')!;
  expect(peerTag).toMatchObject({ peerDeviceId: a.identity.deviceId, headSeq: aTag.seq, rowCount: 3 });

  for (const name of ['tag', 'collection'] as const) {
    expect(digestsEqual(await readDigest(a, name), await readDigest(b, name))).toBe(true);
  }
  // B's own device row is what B holds and A does not: left out, the device digests agree.
  expect(digestsEqual(await readDigest(a, 'device'), await readDigest(b, 'device'))).toBe(false);
  expect(
    digestsEqual(
      await readDigest(a, 'device', { excludeOrigins: [b.identity.deviceId] }),
      await readDigest(b, 'device', { excludeOrigins: [b.identity.deviceId] }),
    ),
  ).toBe(true);

  await resetWatermarks(b, a.identity.deviceId, ['tag', 'collection']);
  const after = await readWatermarks(b);
  for (const mark of after) {
    const before = marks.find((m) => m.resourceType === mark.resourceType)!;
    expect([mark.resourceType, mark.lastSeq]).toEqual([
      mark.resourceType,
      mark.resourceType === 'tag' || mark.resourceType === 'collection' ? 0 : before.lastSeq,
    ]);
  }
});

describe('library health', () => {
  test('a fresh library: integrity ok, no watermarks, the clock floor not ahead', async () => {
    const findings = await checkLibraryHealth(a);
    expect(kinds(findings)).toEqual(['integrity:ok', 'watermarks:ok', 'clock:ok']);
    expect(findings[0]).toMatchObject({ result: 'ok' });
    expect(findings[1]).toMatchObject({ watermarks: 0 });
  });

  test('an HLC floor ahead of the wall clock beyond the tolerance is a problem', async () => {
    const past = Date.now() - 10 * 60_000;
    const late = await checkLibraryHealth(a, { nowMs: past });
    const clock = late.find((f) => f.kind === 'clock');
    expect(clock).toMatchObject({ severity: 'problem' });
    expect(clock?.kind === 'clock' && clock.floorAheadMs).toBeGreaterThan(9 * 60_000);
    const tolerant = await checkLibraryHealth(a, { nowMs: past, floorAheadToleranceMs: 3_600_000 });
    expect(tolerant.find((f) => f.kind === 'clock')?.severity).toBe('ok');
  });

  test('rows missing behind a caught-up watermark: watermark ahead of data, for that type only', async () => {
    await writeTags(a, 1, 10);
    await syncOnce(b, a);
    expect(kinds(await checkLibraryHealth(b))).toEqual([
      'integrity:ok',
      'watermarks:ok',
      'clock:ok',
      'peer_clocks:ok',
    ]);
    expect((await checkLibraryHealth(b)).find((f) => f.kind === 'watermarks')).toMatchObject({
      watermarks: RESOURCE_NAMES.length,
    });

    await forgetRows(b, 'tag', [fixedUuid(1, 3), fixedUuid(1, 7)]);
    const findings = await checkLibraryHealth(b);
    expect(kinds(findings)).toEqual([
      'integrity:ok',
      'watermark_ahead_of_data:problem',
      'clock:ok',
      'peer_clocks:ok',
    ]);
    expect(findings[1]).toEqual({
      kind: 'watermark_ahead_of_data',
      severity: 'problem',
      peerDeviceId: a.identity.deviceId,
      resourceType: 'tag',
      heldRows: 8,
      peerRows: 10,
    });
  });

  test('a library migrated from the legacy global watermark: one note per peer whose watermark was dropped', async () => {
    const file = copyLegacyFixture();
    const legacyPeers = await rawQuery<{ uuid: string; last_state_watermark: string | null }>(
      file,
      'SELECT uuid, last_state_watermark FROM devices WHERE last_state_watermark IS NOT NULL ORDER BY uuid',
    );
    expect(legacyPeers.length).toBeGreaterThan(0);
    const migrated = await Library.open(file);
    try {
      const findings = await checkLibraryHealth(migrated);
      const notes = findings.filter((f) => f.kind === 'legacy_migration');
      expect(
        notes.map((f) => f.kind === 'legacy_migration' && [f.peerDeviceId, f.legacyStateWatermark]).sort(),
      ).toEqual(legacyPeers.map((peer) => [peer.uuid, peer.last_state_watermark]));
      for (const note of notes) {
        expect(note).toMatchObject({ severity: 'info', resyncedTypes: 0 });
        expect(note.kind === 'legacy_migration' && note.migratedAtMs).toBeGreaterThan(Date.now() - 60_000);
      }
      expect(kinds(findings)[0]).toBe('integrity:ok');
    } finally {
      await migrated.close();
    }
  });

  test('rows deleted here after the sync are not missing: tombstones count as held', async () => {
    await writeTags(a, 1, 10);
    await syncOnce(b, a);
    await b.write(async (tx) => {
      for (const n of [2, 5, 8]) await tx.delete('tag', fixedUuid(1, n));
    });
    expect(kinds(await checkLibraryHealth(b))).toEqual([
      'integrity:ok',
      'watermarks:ok',
      'clock:ok',
      'peer_clocks:ok',
    ]);
  });

  test('a watermark below the peer’s last known head is behind', async () => {
    await writeTags(a, 1, 4);
    await syncOnce(b, a);
    const tag = (await readWatermarks(b)).find((m) => m.resourceType === 'tag')!;
    // The peer said at a later contact that it holds more than this device applied.
    await b.db.writeTransaction((sql) =>
      new PeerHeadStore(sql).raise(a.identity.deviceId, 'tag', tag.lastSeq + 1),
    );
    const findings = await checkLibraryHealth(b);
    expect(kinds(findings)).toEqual(['integrity:ok', 'behind:problem', 'clock:ok', 'peer_clocks:ok']);
    expect(findings[1]).toMatchObject({
      resourceType: 'tag',
      appliedSeq: tag.lastSeq,
      peerHeadSeq: tag.lastSeq + 1,
    });
  });
});
