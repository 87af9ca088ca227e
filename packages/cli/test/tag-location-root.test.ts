import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeTempDirs, runCli, runCliJson, tempDir } from './harness';

afterAll(removeTempDirs);

/*
 * The folder that was indexed is the location itself: naming it in `tag assign` or `tag unassign`
 * must say that it is a directory (tags attach to files), not that it is outside every indexed
 * location and should be indexed, which it already is.
 */
test('tag assign/unassign of an indexed folder itself says it is a directory, not that it is not indexed', async () => {
  const lib = tempDir();
  const tree = tempDir();
  fs.writeFileSync(path.join(tree, 'file.txt'), 'x\n');
  await runCliJson(['init', '--library', lib]);
  await runCliJson(['index', '--library', lib, tree]);
  await runCliJson(['tag', 'add', '--library', lib, 'red']);
  const root = fs.realpathSync(tree);
  for (const verb of ['assign', 'unassign']) {
    for (const target of [tree, `${tree}/`]) {
      const result = await runCli(['tag', verb, '--library', lib, 'red', target]);
      expect({ verb, target, code: result.code, stderr: result.stderr }).toEqual({
        verb,
        target,
        code: 2,
        stderr: `tidemark: ${root} is a directory; tags attach to the content of files\n`,
      });
    }
  }
  // A folder outside every location still says so.
  const outside = await runCli(['tag', 'assign', '--library', lib, 'red', path.dirname(root)]);
  expect(outside.code).toBe(3);
  expect(outside.stderr).toMatch(/is not inside an indexed location/);
});
