import { serverProcessesOf } from './tcp-connections';
import { readThreadCpu } from './thread-cpu';

const SAMPLE_MS = 500;

/**
 * CPU the database server's backends spend for one client process during a phase: the work
 * PostgreSQL does for a hub's node process (SQLite does the same work inside the node). The
 * backends are found from the client's connections every SAMPLE_MS, so ones a pool opens during
 * the phase count from their start; one that exits between two samples loses its last interval.
 */
export class BackendCpu {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly clientPid: number,
    private readonly port: number,
  ) {}

  start(): this {
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), SAMPLE_MS);
    return this;
  }

  /** CPU seconds used by the backends since start(), and how many took part. */
  stop(): { seconds: number; backends: number } {
    if (this.timer) clearInterval(this.timer);
    this.sample(false);
    let seconds = 0;
    for (const [pid, last] of this.last) seconds += last - (this.first.get(pid) ?? 0);
    return { seconds, backends: this.last.size };
  }

  private sample(atStart: boolean): void {
    for (const pid of serverProcessesOf(this.clientPid, this.port)) {
      const cpu = readThreadCpu(pid);
      if (!cpu) continue;
      const used = cpu.main + cpu.other;
      if (atStart) this.first.set(pid, used);
      this.last.set(pid, used);
    }
  }
}
