/**
 * Two processes creating one library at the same moment (two `tidemark init` or `join` into one
 * new DIR): both find no database, one creates it first. The other must be told in the words of
 * the check it passed, not with a raw EEXIST, and must leave the winner's file alone. A dangling
 * symlink stands for the other process's file: existsSync does not see it, O_EXCL does.
 */
import * as fs from 'node:fs';
import { Library } from '../src';
import { TidemarkError } from '../src/errors';
import { removeTempDirs, tempDir } from './fixtures';

afterAll(removeTempDirs);

test('a library file made by another process after the check is ALREADY_EXISTS, and left as it was', async () => {
  const dir = tempDir();
  const file = Library.fileIn(dir);
  fs.symlinkSync(`${dir}/elsewhere`, file);
  const refused = await Library.create(file).catch((error: unknown) => error);
  expect(refused).toBeInstanceOf(TidemarkError);
  expect(refused).toMatchObject({
    code: 'ALREADY_EXISTS',
    message: `${file} already exists; open it instead of creating it`,
  });
  expect(fs.readlinkSync(file)).toBe(`${dir}/elsewhere`);
  expect(fs.existsSync(`${dir}/elsewhere`)).toBe(false);
});
