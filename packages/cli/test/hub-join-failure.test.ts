/**
 * A hub join (`join --database`) that fails leaves its tables in PostgreSQL: a join of another
 * directory into the same schema says what to do about them, on one line and without the
 * password. Needs TIDEMARK_TEST_PG_URL.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { freePort, removeTempDirs, runCli, runCliJson, tempDir } from './harness';

const PG_URL = process.env.TIDEMARK_TEST_PG_URL;

afterAll(removeTempDirs);

(PG_URL ? test : test.skip)(
  'after a failed hub join, another join into its schema says what to do about the tables it left',
  async () => {
    const url = new URL(PG_URL!);
    url.password = 'not-to-be-printed';
    const schema = `hub_join_${randomBytes(6).toString('hex')}`;
    url.searchParams.set('schema', schema);
    const dirA = tempDir();
    await runCliJson(['init', '--library', dirA]);
    // Nothing listens there: the inviter cannot be reached.
    const { invite } = await runCliJson<{ invite: string }>([
      'invite',
      '--library',
      dirA,
      '--address',
      `127.0.0.1:${await freePort()}`,
    ]);
    const parent = tempDir();
    const join = (dir: string) =>
      runCli(['join', '--library', path.join(parent, dir), '--database', url.toString(), '-'], {
        input: `${invite}\n`,
      });

    const failed = await join('hub');
    expect({ code: failed.code, stderr: failed.stderr }).toEqual({
      code: 4,
      stderr: expect.stringMatching(/^tidemark: cannot reach the inviter[^\n]*\n$/),
    });

    const retry = await join('another');
    expect({ code: retry.code, stderr: retry.stderr }).toEqual({
      code: 3,
      stderr: expect.stringMatching(
        new RegExp(
          `^tidemark: schema "${schema}" of [^\\n]* already holds a library: name another with \\?schema=NAME[^\\n]*\\n$`,
        ),
      ),
    });
    expect(retry.stderr).not.toContain('not-to-be-printed');
  },
);
