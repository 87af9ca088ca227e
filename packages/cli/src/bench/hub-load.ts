import { ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';
import { ResourceType } from '@tidemark/proto';
import { FollowerSpec, LoadCommand, LoadReply } from './hub-protocol';

type ReplyOf<C extends LoadCommand['cmd']> = Extract<LoadReply, { cmd: C }>;

/** Longest any one phase of a load child may take before the bench gives up on it. */
const PHASE_TIMEOUT_MS = 20 * 60_000;

/** One load-generator child (hub-followers.ts) and its followers. */
class LoadChild {
  private pending: { resolve: (reply: LoadReply) => void; reject: (error: Error) => void } | undefined;
  private readonly exited: Promise<void>;

  constructor(readonly child: ChildProcess) {
    child.on('message', (reply: LoadReply) => {
      const waiting = this.pending;
      this.pending = undefined;
      if (!waiting) return;
      if (reply.cmd === 'error') waiting.reject(new Error(`load generator: ${reply.message}`));
      else waiting.resolve(reply);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.pending?.reject(new Error(`load generator exited with code ${code}`));
        this.pending = undefined;
        resolve();
      }),
    );
  }

  ask<C extends LoadCommand>(command: C): Promise<ReplyOf<C['cmd']>> {
    if (this.pending) throw new Error('load generator: one command at a time');
    return new Promise<ReplyOf<C['cmd']>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`load generator: ${command.cmd} took over ${PHASE_TIMEOUT_MS} ms`)),
        PHASE_TIMEOUT_MS,
      );
      this.pending = {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply as ReplyOf<C['cmd']>);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.child.send(command);
    });
  }

  /** A command is waiting for its reply (a failed phase leaves the other children so). */
  get busy(): boolean {
    return this.pending !== undefined;
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/**
 * The followers of one run, spread over a few child processes (each a Node process with its
 * own event loop, as separate devices are): commands go to every child at once and the replies
 * are concatenated in follower order.
 */
export class HubLoad {
  /** Handshakes the followers tried again after UNAVAILABLE while connecting. */
  handshakeRetries = 0;

  private constructor(private readonly children: readonly LoadChild[]) {}

  static async start(
    processes: number,
    libraryId: string,
    hubCertPem: string,
    followers: readonly FollowerSpec[],
  ): Promise<HubLoad> {
    const script = path.join(__dirname, 'hub-followers.js');
    const children: LoadChild[] = [];
    for (let index = 0; index < processes; index++) {
      children.push(new LoadChild(fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
    }
    const load = new HubLoad(children);
    try {
      const replies = await Promise.all(
        children.map((child, index) =>
          child.ask({
            cmd: 'connect',
            libraryId,
            hubCertPem,
            followers: followers.filter((_, at) => at % processes === index),
          }),
        ),
      );
      load.handshakeRetries = replies.reduce((sum, reply) => sum + reply.handshakeRetries, 0);
    } catch (error) {
      await load.close();
      throw error;
    }
    return load;
  }

  /** Follower i of the whole run is follower floor(i / processes) of child i % processes. */
  private merge<T>(parts: readonly (readonly T[])[]): T[] {
    const out: T[] = [];
    const longest = Math.max(...parts.map((part) => part.length));
    for (let at = 0; at < longest; at++) for (const part of parts) if (at < part.length) out.push(part[at]);
    return out;
  }

  async backfill(batchSize: number) {
    const replies = await Promise.all(
      this.children.map((child) => child.ask({ cmd: 'backfill', batchSize })),
    );
    return this.merge(replies.map((reply) => reply.slices));
  }

  async follow(epoch: string, heads: readonly { resourceType: ResourceType; seq: number }[]): Promise<void> {
    await Promise.all(this.children.map((child) => child.ask({ cmd: 'follow', epoch, heads })));
  }

  /** How many marked entries each follower has received on its follow stream. */
  async arrivals(): Promise<number[]> {
    const replies = await Promise.all(this.children.map((child) => child.ask({ cmd: 'arrivals' })));
    return this.merge(replies.map((reply) => reply.arrivals));
  }

  async stopFollow() {
    const replies = await Promise.all(this.children.map((child) => child.ask({ cmd: 'stop-follow' })));
    return this.merge(replies.map((reply) => reply.latencyArrivals));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (!child.busy) {
          await Promise.race([
            child.ask({ cmd: 'close' }).catch(() => undefined),
            new Promise((resolve) => setTimeout(resolve, 10_000)),
          ]);
        }
        await child.kill();
      }),
    );
  }

  /** Process ids of the children, for their CPU. */
  get pids(): number[] {
    return this.children.map((child) => child.child.pid!);
  }
}
