import { Library, readResourceHeads, resourceTypeOf } from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import { PeerSessionEvent, RunningNode } from '../src';
import { createMemberFiles, digestsOf, nextEvent, removeTempDirs, startTestNode, tempDir } from './helpers';

const ENTRIES = 60_000;

type Kind<K extends PeerSessionEvent['kind']> = Extract<PeerSessionEvent, { kind: K }>;
const is =
  <K extends PeerSessionEvent['kind']>(kind: K) =>
  (event: PeerSessionEvent): event is Kind<K> =>
    event.kind === kind;

async function countEntries(library: Library): Promise<number> {
  const heads = await readResourceHeads(library);
  return heads.find((head) => head.resourceType === resourceTypeOf('entry'))!.rowCount;
}

const nodes: RunningNode[] = [];

afterAll(async () => {
  for (const node of nodes.reverse()) await node.close();
  removeTempDirs();
});

test('B resumes from its watermarks after A goes away mid-backfill and comes back on the same port', async () => {
  const [fileA, fileB] = await createMemberFiles(2, (library) =>
    writeSyntheticLibrary(library, { volumes: 3, locations: 10, entries: ENTRIES }),
  );
  const a1 = await startTestNode(fileA);
  const b = await startTestNode(fileB, {
    peers: [a1.address],
    batchSize: 500,
    reconnect: { initialMs: 50, maxMs: 400 },
  });
  nodes.push(b);
  const events: PeerSessionEvent[] = [];
  b.events$.subscribe((event) => events.push(event));

  await nextEvent(
    b.events$,
    (event): event is Kind<'sync'> =>
      event.kind === 'sync' &&
      event.event.kind === 'batch' &&
      event.event.resourceType === 'entry' &&
      event.event.totalReceived >= 5_000,
    'the entry backfill to be under way',
  );
  const disconnected = nextEvent(b.events$, is('disconnected'), 'B to notice that A is gone');
  await a1.close();
  expect((await disconnected).error.code).toBe('UNAVAILABLE');
  const applied = await countEntries(b.library);
  expect(applied).toBeGreaterThanOrEqual(5_000);
  expect(applied).toBeLessThan(ENTRIES);

  // B keeps retrying a peer that is down, with backoff.
  for (let i = 0; i < 2; i++)
    await nextEvent(b.events$, is('reconnect_scheduled'), 'a retry while A is down');
  expect(await countEntries(b.library)).toBe(applied);

  const resumedFrom = events.length;
  const a2 = await startTestNode(fileA, { listen: a1.address });
  nodes.push(a2);
  expect(a2.address).toBe(a1.address);
  await nextEvent(
    b.events$,
    (event): event is Kind<'sync'> => event.kind === 'sync' && event.event.kind === 'backfilled',
    'B to finish the backfill after A came back',
  );

  const mine = await digestsOf(b.library);
  const theirs = await digestsOf(a2.library);
  expect({ ...mine, device: '' }).toEqual({ ...theirs, device: '' });
  // Resumed, not restarted: after the reconnect A sent exactly the entries B did not have yet.
  const resentEntries = events
    .slice(resumedFrom)
    .reduce(
      (sum, e) =>
        e.kind === 'sync' && e.event.kind === 'batch' && e.event.resourceType === 'entry'
          ? sum + e.event.received
          : sum,
      0,
    );
  expect(resentEntries).toBe(ENTRIES - applied);
  const retries = events.filter(is('reconnect_scheduled'));
  expect(retries.length).toBeGreaterThanOrEqual(2);
  for (const retry of retries) expect(retry.delayMs).toBeLessThanOrEqual(400);
});

test('a peer serving another library is refused loudly and retried at the longest backoff', async () => {
  const [fileA] = await createMemberFiles(1);
  const other = await Library.create(Library.fileIn(tempDir()));
  const otherFile = other.file;
  await other.close();
  const a = await startTestNode(fileA);
  nodes.push(a);
  const c = await startTestNode(otherFile, {
    peers: [a.address],
    reconnect: { initialMs: 50, maxMs: 1_000 },
  });
  nodes.push(c);
  const disconnected = await nextEvent(c.events$, is('disconnected'), 'the refusal');
  expect(disconnected.error.code).toBe('LIBRARY_MISMATCH');
  expect(disconnected.error.message).toContain(c.library.identity.libraryId);
  const retry = await nextEvent(c.events$, is('reconnect_scheduled'), 'the retry');
  expect(retry.delayMs).toBeGreaterThanOrEqual(500);
  expect(retry.delayMs).toBeLessThanOrEqual(1_000);
});
