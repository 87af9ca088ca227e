/**
 * Each side of a handshake estimates the other's clock offset from the wall clocks it carries
 * (docs/architecture.md, "Clocks"): the pulling side round-trip corrected, the serving side one
 * way and only for devices it knows. A client that sends no time still gets its handshake.
 */
import { ProtocolVersion } from '@tidemark/proto';
import { createLibrary, removeTempDirs, TestClock } from './fixtures';
import { syncUntilCut, transportTo } from './sync-helpers';
import { DEFAULT_MAX_DRIFT_MS } from '../src/hlc';
import { Library } from '../src/library';
import { offsetFromRoundTrip } from '../src/peer-clocks';
import { checkLibraryHealth } from '../src/reads/health';
import { readPeerClocks } from '../src/reads/peer-clocks';
import { readRecord } from '../src/reads/records';
import { LibrarySyncService } from '../src/sync-service';

const T0 = Date.UTC(2025, 9, 20, 14, 0, 0);
const TEN_MINUTES = 10 * 60_000;

let correct: Library;
let fast: Library;
let correctClock: TestClock;
let fastClock: TestClock;

beforeEach(async () => {
  correctClock = new TestClock(T0);
  fastClock = new TestClock(T0 + TEN_MINUTES);
  correct = await createLibrary({ clock: { now: correctClock.now } });
  fast = await createLibrary({ libraryId: correct.identity.libraryId, clock: { now: fastClock.now } });
});

afterEach(async () => {
  await fast.close();
  await correct.close();
});

afterAll(removeTempDirs);

test('NTP estimate: the server time against the midpoint of send and receive, error half the round trip', () => {
  // Sent at 1,000 and answered at 1,100 on the client's clock; the server read 601,050: it is
  // 600,000 ms ahead, if the request and the answer took equally long.
  expect(offsetFromRoundTrip('peer', 1_000, 1_100, 601_050)).toEqual({
    peerDeviceId: 'peer',
    offsetMs: 600_000,
    roundTripMs: 100,
    measuredAtMs: 1_100,
  });
});

test('the pulling side stores the server clock offset and reports it at connect; the server stores the client one once it knows the device', async () => {
  const first = await syncUntilCut(correct, transportTo(fast));
  expect(first.error).toBeUndefined();
  const connected = first.events.find((event) => event.kind === 'connected');
  expect(connected?.kind === 'connected' && connected.clockOffset).toEqual({
    peerDeviceId: fast.identity.deviceId,
    offsetMs: TEN_MINUTES,
    roundTripMs: 0,
    measuredAtMs: T0,
  });
  expect(await readPeerClocks(correct)).toEqual([
    { peerDeviceId: fast.identity.deviceId, offsetMs: TEN_MINUTES, roundTripMs: 0, measuredAtMs: T0 },
  ]);
  // The fast device did not hold the correct one's device row when it answered: nothing stored.
  expect(await readPeerClocks(fast)).toEqual([]);

  // Once it holds it (it pulled from the correct device), the next handshake is stored, one way.
  expect((await syncUntilCut(fast, transportTo(correct))).error).toBeUndefined();
  correctClock.advance(5_000);
  fastClock.advance(5_000);
  expect((await syncUntilCut(correct, transportTo(fast))).error).toBeUndefined();
  expect(await readPeerClocks(fast)).toEqual([
    {
      peerDeviceId: correct.identity.deviceId,
      offsetMs: -TEN_MINUTES,
      roundTripMs: undefined,
      measuredAtMs: T0 + TEN_MINUTES + 5_000,
    },
  ]);
  expect((await readPeerClocks(correct))[0]).toMatchObject({
    offsetMs: TEN_MINUTES,
    measuredAtMs: T0 + 5_000,
  });
});

test('a client that sends no time (an older one) gets its handshake, with the server time, and nothing is stored', async () => {
  // The fast device holds the correct one's device row, so a timed handshake would be stored.
  expect((await syncUntilCut(fast, transportTo(correct))).error).toBeUndefined();
  const before = await readPeerClocks(fast);
  fastClock.advance(1_000);
  const response = await new LibrarySyncService(fast).handshake({
    libraryId: fast.identity.libraryId,
    deviceId: correct.identity.deviceId,
    epoch: correct.identity.epoch,
    protocolVersion: ProtocolVersion.PROTOCOL_VERSION_1,
    heads: [],
    sentAtMs: 0,
  });
  expect(response.deviceId).toBe(fast.identity.deviceId);
  expect(response.serverTimeMs).toBe(T0 + TEN_MINUTES + 1_000);
  expect(await readPeerClocks(fast)).toEqual(before);
});

test('a server that sends no time (an older one): the sync goes on, with no estimate', async () => {
  const service = new LibrarySyncService(fast);
  const transport = transportTo(fast);
  const older = {
    handshake: async (request: Parameters<LibrarySyncService['handshake']>[0]) => ({
      ...(await service.handshake(request)),
      serverTimeMs: 0,
    }),
    streamState: transport.streamState.bind(transport),
    digest: transport.digest.bind(transport),
  };
  const run = await syncUntilCut(correct, older);
  expect(run.error).toBeUndefined();
  const connected = run.events.find((event) => event.kind === 'connected');
  expect(connected?.kind === 'connected' && connected.clockOffset).toBeUndefined();
  expect(await readPeerClocks(correct)).toEqual([]);
});

describe('library health names the wrong clock', () => {
  test('a correct device names a peer whose clock is beyond the max drift, with its name and offset', async () => {
    expect((await syncUntilCut(correct, transportTo(fast))).error).toBeUndefined();
    const findings = await checkLibraryHealth(correct);
    expect(findings.filter((finding) => finding.kind === 'peer_clock')).toEqual([
      {
        kind: 'peer_clock',
        severity: 'problem',
        peerDeviceId: fast.identity.deviceId,
        peerName: (await readRecord(fast, 'device', fast.identity.deviceId))?.name,
        offsetMs: TEN_MINUTES,
        roundTripMs: 0,
        measuredAtMs: T0,
        maxDriftMs: DEFAULT_MAX_DRIFT_MS,
      },
    ]);
    // Within a larger max drift the same offset is fine.
    const tolerant = await checkLibraryHealth(correct, { maxDriftMs: 2 * TEN_MINUTES });
    expect(tolerant.find((finding) => finding.kind.includes('clock') && finding.kind !== 'clock')).toEqual({
      kind: 'peer_clocks',
      severity: 'ok',
      peers: 1,
      maxDriftMs: 2 * TEN_MINUTES,
    });
  });

  test('when every peer (two or more) disagrees the same way, the device says its own clock is the likely wrong one', async () => {
    const otherClock = new TestClock(T0 + 2_000);
    const other = await createLibrary({
      libraryId: correct.identity.libraryId,
      clock: { now: otherClock.now },
    });
    try {
      expect((await syncUntilCut(fast, transportTo(correct))).error).toBeUndefined();
      expect((await syncUntilCut(fast, transportTo(other))).error).toBeUndefined();
      const findings = await checkLibraryHealth(fast);
      expect(
        findings.filter((finding) => finding.kind.endsWith('clock') && finding.kind !== 'clock'),
      ).toEqual([
        {
          kind: 'own_clock',
          severity: 'problem',
          aheadMs: TEN_MINUTES - 2_000,
          peers: 2,
          maxDriftMs: DEFAULT_MAX_DRIFT_MS,
        },
      ]);
      // One of the two correct devices, knowing only the fast one, names it.
      expect((await syncUntilCut(other, transportTo(fast))).error).toBeUndefined();
      expect(
        (await checkLibraryHealth(other)).find((finding) => finding.kind === 'peer_clock'),
      ).toMatchObject({
        peerDeviceId: fast.identity.deviceId,
        offsetMs: TEN_MINUTES - 2_000,
      });
    } finally {
      await other.close();
    }
  });
});
