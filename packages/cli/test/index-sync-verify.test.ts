import { EntryKind } from '@tidemark/proto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { copyDocSubset, independentWalk, recordsIn } from './index-helpers';
import { freePort, NodeProcess, removeTempDirs, runCli, runCliJson, tempDir } from './harness';

afterAll(removeTempDirs);

const entryPaths = async (dir: string) => (await recordsIn(dir, 'entry')).map((r) => r.relativePath);

test('a real folder indexed on A reaches B through a node; after deletes, adds and a re-index, verify passes and the deleted entries are gone on B', async () => {
  const [dirA, dirB, folder] = [tempDir(), tempDir(), tempDir('tidemark-docs-')];
  copyDocSubset(folder, 1_500);
  const { libraryId } = await runCliJson<{ libraryId: string }>(['init', '--library', dirA]);
  await runCliJson(['init', '--library', dirB, '--library-id', libraryId]);
  expect((await runCli(['index', '--library', dirA, folder])).code).toBe(0);

  const nodeA = new NodeProcess(dirA, await freePort());
  await nodeA.start();
  try {
    const sync = () => runCli(['sync', '--library', dirB, '--peer', nodeA.address, '--insecure']);
    const verify = () => runCli(['verify', '--library', dirB, '--peer', nodeA.address, '--insecure']);
    expect((await sync()).code).toBe(0);
    expect((await verify()).code).toBe(0);
    expect((await entryPaths(dirB)).length).toBe(independentWalk(folder).size);

    // Change the folder: delete files, add files, then re-index on A while its node runs.
    const files = [...independentWalk(folder).entries()]
      .filter(([, kind]) => kind === EntryKind.ENTRY_KIND_FILE)
      .map(([p]) => p);
    const deleted = files.slice(0, 10);
    for (const file of deleted) fs.rmSync(path.join(folder, file));
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(folder, `added-${i}.txt`), `new file ${i}\n`);
    expect((await runCli(['index', '--library', dirA, folder])).code).toBe(0);

    expect((await sync()).code).toBe(0);
    const result = await verify();
    expect(result.stdout).toContain('verified');
    expect(result.code).toBe(0);
    const onB = new Set(await entryPaths(dirB));
    for (const file of deleted) expect(onB.has(file)).toBe(false);
    for (let i = 0; i < 5; i++) expect(onB.has(`added-${i}.txt`)).toBe(true);
    expect(onB.size).toBe(independentWalk(folder).size);
  } finally {
    await nodeA.stop();
  }
});
