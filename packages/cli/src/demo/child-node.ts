import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TidemarkError } from '@tidemark/engine';

const BIN = path.join(__dirname, '..', '..', 'bin', 'tidemark.js');

/**
 * A `tidemark node` child process for the demo: started, killed with SIGKILL, restarted. Its log
 * goes to `node.log` in its library folder, never to the terminal, where the demo draws bars.
 */
export class ChildNode {
  private child: ChildProcess | undefined;
  readonly logFile: string;

  constructor(
    private readonly libraryDir: string,
    readonly address: string,
  ) {
    this.logFile = path.join(libraryDir, 'node.log');
  }

  async start(): Promise<void> {
    const log = fs.openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        [BIN, 'node', '--library', this.libraryDir, '--listen', this.address, '--insecure'],
        { stdio: ['ignore', 'pipe', log] },
      );
    } finally {
      // The child holds its own copy of the descriptor.
      fs.closeSync(log);
    }
    this.child = child;
    const stdout = child.stdout!;
    stdout.pipe(fs.createWriteStream(this.logFile, { flags: 'a' }));
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) =>
        reject(
          new TidemarkError('UNAVAILABLE', `the node on ${this.address} ${why}; its log is ${this.logFile}`),
        );
      const timer = setTimeout(() => fail('did not start within 30 s'), 30_000);
      let seen = '';
      const onData = (chunk: Buffer) => {
        seen += chunk.toString();
        if (!seen.includes('"msg":"listening"')) return;
        clearTimeout(timer);
        stdout.off('data', onData);
        child.off('exit', onExit);
        resolve();
      };
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        fail(`exited with ${code} before listening`);
      };
      stdout.on('data', onData);
      child.once('exit', onExit);
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
