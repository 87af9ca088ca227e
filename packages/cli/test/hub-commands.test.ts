/**
 * Every command that takes --library on a hub library (PostgreSQL): the ones that apply work, the
 * ones that cannot (indexing this machine's folders) exit 2 with one line, and the database's
 * password is never printed. Needs TIDEMARK_TEST_PG_URL.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, removeTempDirs, runCli, runCliJson, tempDir } from './harness';

const PG_URL = process.env.TIDEMARK_TEST_PG_URL;

jest.setTimeout(240_000);

/** The test server's URL with a password (ignored by a trust-auth server) and a fresh schema. */
function hubUrl(base: string): string {
  const url = new URL(base);
  url.password = 'not-to-be-printed';
  url.searchParams.set('schema', `hub_commands_${randomBytes(6).toString('hex')}`);
  return url.toString();
}

afterAll(() => removeTempDirs());

(PG_URL ? test : test.skip)(
  'a hub library: init, status, doctor, tags, collections, peers, invites; index and --watch refused in one line; the password never printed',
  async () => {
    const dir = tempDir('tidemark-hub-');
    const url = hubUrl(PG_URL!);
    const init = await runCli(['init', '--library', dir, '--name', 'team', '--database', url]);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(init.stdout).toContain(`created ${path.join(fs.realpathSync(dir), 'database.json')}`);
    expect(init.stdout).toContain('hub library in postgres://');
    expect(init.stdout).not.toContain('not-to-be-printed');
    // The rows are in PostgreSQL: no SQLite file, and the locator is private.
    expect(fs.existsSync(path.join(dir, 'library.db'))).toBe(false);
    expect(fs.statSync(path.join(dir, 'database.json')).mode & 0o777).toBe(0o600);

    // A second init into the same directory, or into the same schema from another one, is refused.
    const again = await runCli(['init', '--library', dir, '--database', url]);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/^tidemark: .*database\.json already exists/);
    const sameSchema = await runCli(['init', '--library', tempDir(), '--database', url]);
    expect(sameSchema.code).toBe(3);
    expect(sameSchema.stderr.trim().split('\n')).toHaveLength(1);

    const badUrl = await runCli(['init', '--library', tempDir(), '--database', 'mysql://x@y/z']);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/^tidemark: .*--database needs a PostgreSQL URL/);

    expect(
      (await runCli(['generate', '--library', dir, '--volumes', '1', '--locations', '1', '--entries', '50']))
        .code,
    ).toBe(0);
    const status = await runCliJson<{ heads: { resourceType: string; rows: number }[] }>([
      'status',
      '--library',
      dir,
    ]);
    expect(status.heads.find((head) => head.resourceType === 'entry')?.rows).toBe(50);

    expect((await runCli(['tag', 'add', '--library', dir, 'red'])).code).toBe(0);
    expect((await runCli(['collection', 'add', '--library', dir, 'docs'])).code).toBe(0);
    const tags = await runCliJson<{ name: string }[]>(['tag', 'list', '--library', dir]);
    expect(tags.map((tag) => tag.name)).toEqual(['red']);
    const invite = await runCliJson<{ invite: string }>([
      'invite',
      '--library',
      dir,
      '--address',
      '127.0.0.1:7400',
    ]);
    expect(invite.invite).toMatch(/^tidemark-invite1\./);
    const peers = await runCli(['peer', 'list', '--library', dir]);
    expect(peers.code).toBe(0);
    expect(peers.stdout).toContain('itself (founder)');

    const doctor = await runCli(['doctor', '--library', dir]);
    expect(doctor.code).toBe(0);
    expect(doctor.stdout).toContain('the hub directory and its database.json are private to this user');
    expect(doctor.stdout).toContain('integrity: not checked here: PostgreSQL');
    expect(doctor.stdout + doctor.stderr).not.toContain('not-to-be-printed');

    // What cannot apply to a hub: one line, exit 2, nothing written.
    const folder = tempDir();
    const index = await runCli(['index', '--library', dir, folder]);
    expect(index.code).toBe(2);
    expect(index.stderr.trim().split('\n')).toEqual([
      `tidemark: ${path.resolve(dir)} is a hub library (PostgreSQL), which has no folders of its own: index folders on a device, and let the hub sync from it`,
    ]);
    const watch = await runCli([
      'node',
      '--library',
      dir,
      '--listen',
      `127.0.0.1:${await freePort()}`,
      '--watch',
    ]);
    expect(watch.code).toBe(2);
    expect(watch.stderr).toMatch(/^tidemark: .*is a hub library .*watch folders \(--watch\)/);

    // The pool bound is a hub's: a SQLite library refuses it in one line.
    const sqlite = tempDir();
    expect((await runCli(['init', '--library', sqlite])).code).toBe(0);
    const pool = await runCli([
      'node',
      '--library',
      sqlite,
      '--listen',
      `127.0.0.1:${await freePort()}`,
      '--database-connections',
      '4',
    ]);
    expect(pool.code).toBe(2);
    expect(pool.stderr).toMatch(/^tidemark: --database-connections is for a hub library/);
  },
);
