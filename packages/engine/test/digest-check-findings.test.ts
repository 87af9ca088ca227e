import { checkLibraryHealth, compareWithPeer, recordDigestChecks } from '../src';
import { Library } from '../src/library';
import { createMembers, removeTempDirs } from './fixtures';
import { pull, transportTo } from './sync-helpers';

afterAll(removeTempDirs);

const addTag = (library: Library, name: string) =>
  library.write((tx) => tx.put('tag', { uuid: crypto.randomUUID(), name, color: '' }));

test('a stored comparison that differs is a doctor finding naming the peer and type; an equal one is not', async () => {
  const [a, b] = await createMembers(2);
  await addTag(a, 'one');
  await pull(b, a);
  const equal = await compareWithPeer(b, transportTo(a));
  expect(equal.every((result) => result.equal)).toBe(true);
  await recordDigestChecks(b, a.identity.deviceId, equal);
  expect((await checkLibraryHealth(b)).filter((f) => f.severity === 'problem')).toEqual([]);
  expect(await checkLibraryHealth(b)).toContainEqual({ kind: 'digest_checks', severity: 'ok', peers: 1 });

  await addTag(a, 'two');
  const different = await compareWithPeer(b, transportTo(a));
  expect(different.filter((result) => !result.equal).map((result) => result.resourceType)).toEqual(['tag']);
  await recordDigestChecks(b, a.identity.deviceId, different);
  const findings = (await checkLibraryHealth(b)).filter((f) => f.kind === 'digest_mismatch');
  expect(findings).toMatchObject([
    {
      severity: 'problem',
      peerDeviceId: a.identity.deviceId,
      resourceType: 'tag',
      localCount: 1,
      peerCount: 2,
    },
  ]);

  // A later equal comparison replaces the finding.
  await pull(b, a);
  await recordDigestChecks(b, a.identity.deviceId, await compareWithPeer(b, transportTo(a)));
  expect((await checkLibraryHealth(b)).filter((f) => f.kind === 'digest_mismatch')).toEqual([]);
  await a.close();
  await b.close();
});

test('compareWithPeer asks for the named types only, and refuses an answer that leaves one out', async () => {
  const [a, b] = await createMembers(2);
  const asked: number[][] = [];
  const transport = transportTo(a);
  const spying = {
    digest: async (request: Parameters<typeof transport.digest>[0]) => {
      asked.push([...request.resourceTypes]);
      const answer = await transport.digest(request);
      return { ...answer, digests: answer.digests.slice(1) };
    },
  };
  await expect(compareWithPeer(b, spying, { names: ['tag', 'collection'] })).rejects.toThrow(
    /did not return a digest/,
  );
  expect(asked).toHaveLength(1);
  expect(asked[0]).toHaveLength(2);
  await a.close();
  await b.close();
});
