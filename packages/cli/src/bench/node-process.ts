import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';

/** The CLI entry point next to this compiled file (dist/bench -> bin). */
export const TIDEMARK_BIN = path.resolve(__dirname, '..', '..', 'bin', 'tidemark.js');

export interface LogLine {
  readonly at: number;
  readonly msg: string;
  readonly fields: { readonly [key: string]: unknown };
}

interface Waiter {
  readonly match: (line: LogLine) => boolean;
  readonly resolve: (line: LogLine) => void;
}

/** A `tidemark node` child process with its JSON log lines, timestamped on arrival. */
export class NodeProcess {
  /** Every process started, so a failed run leaves none behind. */
  static readonly started = new Set<NodeProcess>();
  readonly lines: LogLine[] = [];
  private waiters: Waiter[] = [];
  private exited: Promise<number | null>;
  readonly spawnedAt = performance.now();

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const reader = readline.createInterface({ input: child.stdout! });
    reader.on('line', (text) => {
      let fields: { [key: string]: unknown };
      try {
        fields = JSON.parse(text) as { [key: string]: unknown };
      } catch {
        return;
      }
      const line: LogLine = { at: performance.now(), msg: String(fields.msg ?? ''), fields };
      this.lines.push(line);
      if (fields.level !== undefined && Number(fields.level) >= 50) {
        process.stderr.write(`[${name}] ${text}\n`);
      }
      const waiting = this.waiters;
      this.waiters = [];
      for (const waiter of waiting) {
        if (waiter.match(line)) waiter.resolve(line);
        else this.waiters.push(waiter);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[${name}] ${chunk.toString()}`));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static async start(
    name: string,
    args: {
      library: string;
      port: number;
      peer?: string;
      peers?: readonly string[];
      metricsPort?: number;
      batchSize: number;
      extra?: readonly string[];
      /** Mutual TLS with the library's members (the default of `tidemark node`); else --insecure. */
      secure?: boolean;
    },
    cpuProfDir?: string,
  ): Promise<NodeProcess> {
    const nodeArgs = cpuProfDir
      ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir, '--cpu-prof-name', `${name}-${Date.now()}.cpuprofile`]
      : [];
    const cli = ['node', '--library', args.library, '--listen', `127.0.0.1:${args.port}`];
    if (!args.secure) cli.push('--insecure');
    if (args.peer) cli.push('--peer', args.peer);
    for (const peer of args.peers ?? []) cli.push('--peer', peer);
    cli.push(...(args.extra ?? []));
    if (args.metricsPort) cli.push('--metrics', `127.0.0.1:${args.metricsPort}`);
    if (args.batchSize > 0) cli.push('--batch-size', String(args.batchSize));
    const child = spawn(process.execPath, [...nodeArgs, TIDEMARK_BIN, ...cli], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new NodeProcess(name, child);
    NodeProcess.started.add(node);
    killStartedOnExit();
    child.once('exit', () => NodeProcess.started.delete(node));
    await node.waitFor((line) => line.msg === 'listening', 30_000);
    return node;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** "exited with code 1" / "killed by SIGKILL", or undefined while the process runs. */
  get exitState(): string | undefined {
    if (this.child.signalCode !== null) return `killed by ${this.child.signalCode}`;
    if (this.child.exitCode !== null) return `exited with code ${this.child.exitCode}`;
    return undefined;
  }

  /** Resolves with the first line (already logged or still to come) that matches. */
  waitFor(match: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name}: timed out waiting for a log line`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited with code ${code} while the bench waited for it`));
      });
    });
  }

  /** Peak resident set size (VmHWM) in bytes, from /proc. */
  peakRssBytes(): number {
    const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    if (!match) throw new Error(`no VmHWM for ${this.name} (pid ${this.pid})`);
    return Number(match[1]) * 1024;
  }

  /** Resident set size now (VmRSS) in bytes, from /proc. */
  rssBytes(): number {
    const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (!match) throw new Error(`no VmRSS for ${this.name} (pid ${this.pid})`);
    return Number(match[1]) * 1024;
  }

  /** SIGTERM (graceful) or SIGKILL; resolves when the process is gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

let exitHookInstalled = false;

/**
 * However the bench process ends (an uncaught exception or unhandled rejection skips every
 * `finally`; a `process.exit` in an error path), its node processes end with it: a node left
 * running keeps dialing its peers' ports and loads the machine for every later run.
 */
function killStartedOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const node of NodeProcess.started) node.child.kill('SIGKILL');
  });
}

/** `metricOf` on a node's current /metrics page. */
export async function scrapeMetric(
  port: number,
  name: string,
  labels: { [key: string]: string } = {},
): Promise<number> {
  return metricOf(await scrapeMetrics(port), name, labels);
}

/** A node's whole Prometheus text page. */
export async function scrapeMetrics(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return response.text();
}

/** One counter or gauge of a Prometheus text page, summed over the series matching `labels`. */
export function metricOf(body: string, name: string, labels: { [key: string]: string } = {}): number {
  let sum = 0;
  for (const line of body.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (Object.entries(labels).some(([key, value]) => !line.includes(`${key}="${value}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
