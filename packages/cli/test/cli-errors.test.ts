import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { BIN, removeTempDirs, runCli, tempDir } from './harness';

afterAll(removeTempDirs);

/** Every failure is exactly one line on stderr, prefixed "tidemark:", with a documented exit code. */
function expectOneLineError(result: { code: number | null; stderr: string }, code: number, mentions: string) {
  expect(result.code).toBe(code);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^tidemark: /);
  expect(lines[0]).toContain(mentions);
}

describe('errors are one line with a documented exit code', () => {
  test('a missing library exits 3 and says how to create one', async () => {
    expectOneLineError(
      await runCli(['status', '--library', path.join(os.tmpdir(), 'no-such-library')]),
      3,
      'tidemark init',
    );
  });

  test('init over an existing library exits 3', async () => {
    const dir = tempDir();
    expect((await runCli(['init', '--library', dir])).code).toBe(0);
    expectOneLineError(await runCli(['init', '--library', dir]), 3, 'already exists');
  });

  // Two inits or joins into one new DIR at once: both pass the existence checks, and the loser's
  // exclusive create meets the winner's file (a dangling symlink stands for it here). It exited
  // 70 with a raw EEXIST.
  test.each(['device-key.pem', 'library.db'])(
    "init whose %s appears after the check exits 3 and leaves only the other process's file",
    async (name) => {
      const dir = tempDir();
      fs.symlinkSync(path.join(dir, 'elsewhere'), path.join(dir, name));
      expectOneLineError(await runCli(['init', '--library', dir]), 3, 'already exists');
      expect(fs.readdirSync(dir)).toEqual([name]);
    },
  );

  // It exited 70 (internal error) with a raw "ENOTDIR: not a directory, open '…/device-key.pem'".
  test.each(['init', 'join'])(
    '%s --library FILE exits 2, says it is not a directory, and leaves the file alone',
    async (command) => {
      const file = path.join(tempDir(), 'notes.txt');
      fs.writeFileSync(file, 'mine');
      let input: string | undefined;
      if (command === 'join') {
        const inviter = tempDir();
        await runCli(['init', '--library', inviter]);
        input = (await runCli(['invite', '--library', inviter, '--address', '127.0.0.1:9'])).stdout;
      }
      expectOneLineError(
        await runCli([command, '--library', file], { input }),
        2,
        `${file} is not a directory`,
      );
      expect(fs.readFileSync(file, 'utf8')).toBe('mine');
    },
  );

  test('a malformed --peer exits 2 and shows the expected form', async () => {
    const dir = tempDir();
    await runCli(['init', '--library', dir]);
    expectOneLineError(
      await runCli(['sync', '--library', dir, '--peer', 'localhost', '--insecure']),
      2,
      'HOST:PORT',
    );
  });

  test('a network command without --insecure exits 2 and names the flag', async () => {
    const dir = tempDir();
    await runCli(['init', '--library', dir]);
    expectOneLineError(await runCli(['sync', '--library', dir, '--peer', '127.0.0.1:9']), 2, '--insecure');
  });

  test('an unreachable peer exits 4', async () => {
    const dir = tempDir();
    await runCli(['init', '--library', dir]);
    expectOneLineError(
      await runCli(['sync', '--library', dir, '--peer', '127.0.0.1:9', '--insecure']),
      4,
      '127.0.0.1:9',
    );
  });

  test('an invalid --library-id exits 2', async () => {
    expectOneLineError(await runCli(['init', '--library', tempDir(), '--library-id', 'nope']), 2, 'UUID');
  });

  test('a malformed device id or an empty name exits 2, whether or not the library is there', async () => {
    const existing = tempDir();
    await runCli(['init', '--library', existing]);
    for (const library of [existing, path.join(tempDir(), 'none')]) {
      for (const args of [
        ['peer', 'remove', '--library', library, 'not-a-uuid'],
        ['peer', 'rename', '--library', library, 'not-a-uuid', 'nas'],
      ]) {
        expectOneLineError(await runCli(args), 2, 'must be a lowercase hyphenated UUID');
      }
      expectOneLineError(
        await runCli(['peer', 'rename', '--library', library, '00000000-0000-4000-8000-000000000000', '  ']),
        2,
        'must not be empty',
      );
    }
  });

  test('--anti-entropy-interval 0 exits 2 (it was taken as unset, and the default applied)', async () => {
    expectOneLineError(
      await runCli(['node', '--library', tempDir(), '--anti-entropy-interval', '0']),
      2,
      '--anti-entropy-interval must be an integer of at least 1, got "0"',
    );
  });

  // An empty string was taken as the working directory: `init --library ''` made ./library.db,
  // and `index --library L ''` indexed the folder the command ran in.
  test.each([
    ['init', (_: string) => ['init', '--library', ''], '--library is empty'],
    ['status', (_: string) => ['status', '--library', ''], '--library is empty'],
    ['tag add', (_: string) => ['tag', 'add', '--library', '', 'x'], '--library is empty'],
    ['index', (library: string) => ['index', '--library', library, ''], 'an empty path'],
  ])("%s with '' for a directory exits 2 and leaves the working directory alone", async (_, argsOf, says) => {
    const library = tempDir();
    expect((await runCli(['init', '--library', library])).code).toBe(0);
    const cwd = tempDir();
    fs.writeFileSync(path.join(cwd, 'note.txt'), 'not to be indexed\n');
    expectOneLineError(await runCli(argsOf(library), { cwd }), 2, says);
    expect(fs.readdirSync(cwd)).toEqual(['note.txt']);
  });

  // It exited 4, "the peer could not be reached", with grpc-js's wording.
  test('a node whose --listen address is in use exits 2 and says so', async () => {
    const library = tempDir();
    expect((await runCli(['init', '--library', library])).code).toBe(0);
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = taken.address() as net.AddressInfo;
      const result = await runCli([
        'node',
        '--library',
        library,
        '--listen',
        `127.0.0.1:${port}`,
        '--insecure',
      ]);
      expectOneLineError(result, 2, `cannot listen on 127.0.0.1:${port}: the address is in use`);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  test('an unknown command exits 2', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
  });
});

/*
 * Exit 3 means one thing (README "Exit codes"): something named on the command line does not
 * exist (the library, a folder to index, a tag, collection, invite or device), or a name to
 * create is taken. Every command that takes --library says so of a missing library.
 */
describe('exit 3: something named on the command line does not exist, or is taken', () => {
  test('every command on a missing library exits 3, says how to create one, and creates nothing', async () => {
    const parent = tempDir();
    const missing = path.join(parent, 'no-such-library');
    const id = '00000000-0000-4000-8000-000000000000';
    const peer = ['--peer', '127.0.0.1:9', '--insecure'];
    // [command words, arguments after --library DIR]
    const commands: [string[], string[]][] = [
      [['status'], []],
      [['doctor'], []],
      [['doctor'], ['--json']],
      [['generate'], ['--volumes', '1', '--locations', '1', '--entries', '1']],
      [['index'], [os.tmpdir()]],
      [['tag', 'add'], ['red']],
      [['tag', 'rm'], ['red']],
      [
        ['tag', 'rename'],
        ['red', 'blue'],
      ],
      [['tag', 'list'], []],
      [
        ['tag', 'assign'],
        ['red', '/etc/hostname'],
      ],
      [
        ['tag', 'unassign'],
        ['red', '/etc/hostname'],
      ],
      [['collection', 'add'], ['trip']],
      [['collection', 'rm'], ['trip']],
      [['collection', 'list'], []],
      [['invite'], ['--address', '127.0.0.1:7400']],
      [['invite', 'list'], []],
      [['invite', 'revoke'], [id]],
      [['peer', 'list'], []],
      [['peer', 'remove'], [id]],
      [
        ['peer', 'rename'],
        [id, 'nas'],
      ],
      [['node'], ['--listen', '127.0.0.1:0', '--insecure']],
      [['sync'], peer],
      [['verify'], peer],
      [['repair'], peer],
    ];
    for (const [words, rest] of commands) {
      const args = [...words, '--library', missing, ...rest];
      const result = await runCli(args);
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({
        args,
        code: 3,
        stderr: `tidemark: no library at ${path.join(missing, 'library.db')}; create one with \`tidemark init\`\n`,
      });
    }
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  test('a missing folder, tag, collection, invite or device exits 3; so does a name that is taken', async () => {
    const dir = tempDir();
    await runCli(['init', '--library', dir]);
    for (const args of [
      ['tag', 'add', 'red'],
      ['collection', 'add', 'trip'],
    ]) {
      expect((await runCli([...args, '--library', dir])).code).toBe(0);
    }
    const id = '00000000-0000-4000-8000-000000000000';
    const cases: [string[], string][] = [
      [['index', '--library', dir, path.join(dir, 'no-such-folder')], 'cannot index'],
      [['tag', 'rm', '--library', dir, 'nosuch'], 'no tag named "nosuch"'],
      [['tag', 'rename', '--library', dir, 'nosuch', 'other'], 'no tag named "nosuch"'],
      [['tag', 'assign', '--library', dir, 'nosuch', '/etc/hostname'], 'no tag named "nosuch"'],
      [['collection', 'rm', '--library', dir, 'nosuch'], 'no collection named "nosuch"'],
      [['invite', 'revoke', '--library', dir, id], `no invite ${id}`],
      [['peer', 'remove', '--library', dir, id], `device ${id} is not a current member`],
      [['peer', 'rename', '--library', dir, id, 'nas'], `device ${id} is not a current member`],
      [['tag', 'add', '--library', dir, 'red'], 'a tag named "red" already exists'],
      [['collection', 'add', '--library', dir, 'trip'], 'a collection named "trip" already exists'],
      [['init', '--library', dir], 'already exists'],
    ];
    for (const [args, mentions] of cases) {
      const result = await runCli(args);
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({
        args,
        code: 3,
        stderr: expect.stringMatching(/^tidemark: [^\n]*\n$/),
      });
      expect(result.stderr).toContain(mentions);
    }
  });
});

describe('help and completion', () => {
  test('output into a pipe that closes early (`tidemark --help | head -0`) ends quietly with 0', async () => {
    const child = spawn(process.execPath, [BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Closed before the CLI has even started, so its first write meets a closed pipe.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  test('every command documents itself with an example', async () => {
    const help = await runCli(['--help']);
    const commands = [...help.stdout.matchAll(/^ {2}([a-z]+)[ []/gm)]
      .map((m) => m[1])
      .filter((c) => c !== 'help');
    expect(commands.length).toBeGreaterThanOrEqual(12);
    for (const command of commands) {
      const result = await runCli([command, '--help']);
      expect(result.code).toBe(0);
      expect(`${command}: ${result.stdout}`).toMatch(/Examples?:/);
    }
  });

  test('the bash completion script is valid bash and completes commands and flags', async () => {
    const script = (await runCli(['completion', 'bash'])).stdout;
    const file = path.join(tempDir(), 'completion.sh');
    fs.writeFileSync(file, script);
    execFileSync('bash', ['-n', file]);
    const complete = (words: string[]) =>
      execFileSync('bash', [
        '-c',
        `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _tidemark; echo "\${COMPREPLY[*]}"`,
      ])
        .toString()
        .trim();
    expect(complete(['tidemark', 'ver'])).toBe('verify');
    expect(complete(['tidemark', 'sync', '--pe'])).toBe('--peer');
    expect(complete(['tidemark', 'invite', 'l'])).toBe('list');
    expect(complete(['tidemark', 'invite', '--library', 'x', '--add'])).toBe('--address');
    expect(complete(['tidemark', 'invite', 'revoke', '--li'])).toBe('--library');
  });
});
