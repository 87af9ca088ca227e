/**
 * A hub join (`join --database`) that fails removes what it made in DIR, and the next one into
 * the same schema says what to do about the tables the failed one left in PostgreSQL, on one line
 * and without the password. Needs TIDEMARK_TEST_PG_URL.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, removeTempDirs, runCli, runCliJson, tempDir } from './harness';

const PG_URL = process.env.TIDEMARK_TEST_PG_URL;

afterAll(removeTempDirs);

(PG_URL ? test : test.skip)(
  'a failed hub join leaves DIR as it was, and the retry says what to do',
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
    const hub = path.join(parent, 'hub');
    const join = () =>
      runCli(['join', '--library', hub, '--database', url.toString(), '-'], { input: `${invite}\n` });

    const failed = await join();
    expect({ code: failed.code, stderr: failed.stderr }).toEqual({
      code: 4,
      stderr: expect.stringMatching(/^tidemark: cannot reach the inviter[^\n]*\n$/),
    });
    expect(fs.readdirSync(parent)).toEqual([]);

    const retry = await join();
    expect({ code: retry.code, stderr: retry.stderr }).toEqual({
      code: 3,
      stderr: expect.stringMatching(
        new RegExp(
          `^tidemark: schema "${schema}" of [^\\n]* already holds a library: name another with \\?schema=NAME[^\\n]*\\n$`,
        ),
      ),
    });
    expect(retry.stderr).not.toContain('not-to-be-printed');
    expect(fs.readdirSync(parent)).toEqual([]);
  },
);
