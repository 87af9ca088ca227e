import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as sqlite3 from 'sqlite3';

export { freePort } from '../src/free-port';

export const BIN = path.join(__dirname, '..', 'bin', 'tidemark.js');

/**
 * A command that runs the one after it, such as `env LD_PRELOAD=…libfaketimeMT.so.1 FAKETIME=+10m`
 * (which shifts the child's clock): `tidemark` runs under it. It must exec the command rather
 * than fork it, so that a signal to the spawned process reaches tidemark. Empty: run directly.
 */
export type Launcher = readonly string[];

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `tidemark ARGS` as a child process to completion; `input` is written to its stdin, `cwd`
 * is its working directory (this process's by default).
 */
export function runCli(
  args: readonly string[],
  options: { timeoutMs?: number; input?: string; launcher?: Launcher; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [command, ...prefix] = [...(options.launcher ?? []), process.execPath];
    const child = spawn(command, [...prefix, BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: options.cwd,
    });
    // Without input, stdin is at its end at once, as /dev/null would be.
    child.stdin.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function runCliJson<T>(args: readonly string[], input?: string): Promise<T> {
  const result = await runCli([...args, '--json'], { input });
  if (result.code !== 0)
    throw new Error(`tidemark ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** A `tidemark node` child process that can be killed and restarted with the same arguments. */
export class NodeProcess {
  private child: ChildProcess | undefined;
  private logs: string[] = [];
  readonly address: string;

  constructor(
    readonly libraryDir: string,
    port: number,
    private readonly peers: readonly string[] = [],
    private readonly extra: readonly string[] = [],
    private readonly launcher: Launcher = [],
  ) {
    this.address = `127.0.0.1:${port}`;
  }

  /** Starts the process and waits until it logs that it is listening. */
  async start(insecure = true): Promise<void> {
    const args = [
      BIN,
      'node',
      '--library',
      this.libraryDir,
      '--listen',
      this.address,
      ...(insecure ? ['--insecure'] : []),
      ...this.extra,
    ];
    for (const peer of this.peers) args.push('--peer', peer);
    const [command, ...prefix] = [...this.launcher, process.execPath];
    const child = spawn(command, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(
        () => reject(new Error(`node ${this.address} did not start:\n${this.logs.join('')}`)),
        30_000,
      );
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        this.logs.push(text);
        buffered += text;
        if (buffered.includes('"listening"')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (chunk: Buffer) => this.logs.push(chunk.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`node ${this.address} exited ${code} before listening:\n${this.logs.join('')}`));
      });
    });
  }

  /** SIGKILL: no shutdown code runs, as in a crash or power cut. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGTERM and wait; resolves with the exit code. */
  async stop(): Promise<number | null> {
    return this.signal('SIGTERM');
  }

  get output(): string {
    return this.logs.join('');
  }

  private signal(signal: NodeJS.Signals): Promise<number | null> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null)
      return Promise.resolve(child?.exitCode ?? null);
    return new Promise((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill(signal);
    });
  }
}

const made: string[] = [];

export function tempDir(prefix = 'tidemark-cli-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true or the timeout passes. */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  pollMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(pollMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * `tidemark init` in `count` new directories, all of one library (the first's id, given to the
 * others with --library-id: the insecure multi-device flow). Returns the directories and the
 * first device's ids.
 */
/**
 * Pairs a new device at `joinerDir` with the library at `inviterDir` through `inviter`, its running
 * node (mutual TLS): an invite, then `tidemark join` with it on standard input.
 */
export async function joinThrough(
  inviterDir: string,
  inviter: NodeProcess,
  joinerDir: string,
): Promise<{ deviceId: string }> {
  const { invite } = await runCliJson<{ invite: string }>([
    'invite',
    '--library',
    inviterDir,
    '--address',
    inviter.address,
  ]);
  return runCliJson<{ deviceId: string }>(['join', '--library', joinerDir], invite);
}

export async function initDevicesOfOneLibrary(
  count: number,
): Promise<{ dirs: string[]; libraryId: string; deviceId: string }> {
  const dirs = Array.from({ length: count }, () => tempDir());
  const { libraryId, deviceId } = await runCliJson<{ libraryId: string; deviceId: string }>([
    'init',
    '--library',
    dirs[0],
  ]);
  for (const dir of dirs.slice(1)) await runCliJson(['init', '--library', dir, '--library-id', libraryId]);
  return { dirs, libraryId, deviceId };
}

/**
 * Runs SQL on a SQLite file as another program would (the sqlite3 shell is not installed
 * everywhere): rows damaged or lost behind Tidemark's back.
 */
export function sqliteExec(file: string, sql: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, (error) => {
      if (error) return reject(error);
      db.exec(sql, (failure) => db.close(() => (failure ? reject(failure) : resolve())));
    });
  });
}
