import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { TidemarkError } from '@tidemark/engine';

const BIN = path.join(__dirname, '..', '..', 'bin', 'tidemark.js');

/** A `tidemark node` child process for the demo: started, killed with SIGKILL, restarted. */
export class ChildNode {
  private child: ChildProcess | undefined;

  constructor(
    private readonly libraryDir: string,
    readonly address: string,
  ) {}

  async start(): Promise<void> {
    const child = spawn(
      process.execPath,
      [BIN, 'node', '--library', this.libraryDir, '--listen', this.address, '--insecure'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TIDEMARK_LOG_LEVEL: 'warn' } },
    );
    this.child = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new TidemarkError('UNAVAILABLE', `node did not start: ${output}`)),
        30_000,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('"listening"')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(
          new TidemarkError('UNAVAILABLE', `node exited with ${code} before listening: ${output.trim()}`),
        );
      });
    });
  }

  /** SIGKILL: the connection is cut the hard way, with no goodbye from the server. */
  kill(): Promise<void> {
    return this.end('SIGKILL');
  }

  stop(): Promise<void> {
    return this.end('SIGTERM');
  }

  private end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}
