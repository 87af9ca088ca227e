import { Library, LibrarySyncService, readDigestChecks, syncFromPeer$ } from '@tidemark/engine';
import { InMemoryTransport } from '@tidemark/engine/testing';
import { lastValueFrom } from 'rxjs';
import { AntiEntropy, DigestCheckResult } from '../src/peers/anti-entropy';
import { removeTempDirs, tempDir } from './helpers';

afterAll(removeTempDirs);

async function twoMembers(): Promise<[Library, Library]> {
  const a = await Library.create(Library.fileIn(tempDir()), { name: 'A' });
  const b = await Library.create(Library.fileIn(tempDir()), { libraryId: a.identity.libraryId, name: 'B' });
  return [a, b];
}

const addTag = (library: Library, name: string) =>
  library.write((tx) => tx.put('tag', { uuid: crypto.randomUUID(), name, color: '' }));

const pull = (client: Library, server: Library) =>
  lastValueFrom(syncFromPeer$(client, new InMemoryTransport(new LibrarySyncService(server))), {
    defaultValue: undefined,
  });

/** Runs one comparison cycle and resolves with what it reported. */
function checkOnce(
  b: Library,
  a: Library,
  beforeConfirming: () => Promise<void> = async () => undefined,
): Promise<DigestCheckResult> {
  const transport = new InMemoryTransport(new LibrarySyncService(a));
  let calls = 0;
  const watched = {
    digest: async (request: Parameters<InMemoryTransport['digest']>[0]) => {
      calls += 1;
      if (calls === 2) await beforeConfirming();
      return transport.digest(request);
    },
  };
  return new Promise((resolve) => {
    const antiEntropy = new AntiEntropy(
      b,
      watched,
      a.identity.deviceId,
      { intervalMs: 3_600_000, confirmDelayMs: 10 },
      (result) => {
        antiEntropy.stop();
        resolve(result);
      },
    );
    antiEntropy.start();
  });
}

test('a difference the follow stream closes while anti-entropy looks again is not reported', async () => {
  const [a, b] = await twoMembers();
  await addTag(a, 'one');
  await pull(b, a);
  await addTag(a, 'in flight');
  const result = await checkOnce(b, a, () => pull(b, a).then(() => undefined));
  expect(result.differing).toEqual([]);
  expect((await readDigestChecks(b)).every((check) => check.equal)).toBe(true);
  await a.close();
  await b.close();
});

test('a difference still there at the second look is reported and stored for doctor', async () => {
  const [a, b] = await twoMembers();
  await addTag(a, 'one');
  await pull(b, a);
  await addTag(a, 'never pulled');
  const result = await checkOnce(b, a);
  expect(result.differing).toEqual(['tag']);
  expect((await readDigestChecks(b)).filter((check) => !check.equal)).toMatchObject([
    { peerDeviceId: a.identity.deviceId, resourceType: 'tag', localCount: 1, peerCount: 2 },
  ]);
  await a.close();
  await b.close();
});
