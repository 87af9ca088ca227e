import { COMMIT_ID_WORK, commitIdCost, CommitIdWork } from '@tidemark/engine';
import type { CommitIdUnitCost } from '@tidemark/engine/testing';
import { metricOf, scrapeMetrics } from './node-process';

/**
 * What the restored-history check cost in a phase of the bench (docs/architecture.md, "Restored
 * libraries", "What the check costs"): the operations each process counted in the phase (engine
 * `commit-id-cost.ts`, served as `tidemark_commit_id_operations_total`) times the CPU each costs,
 * measured on a copy of the library the run synced (`measureCommitIdUnitCost`).
 */

/** Seconds and calls of each piece of the check, in one process. */
export interface CommitIdSpend {
  readonly seconds: { readonly [work in CommitIdWork]: number };
  readonly count: { readonly [work in CommitIdWork]: number };
}

const NONE: CommitIdSpend = {
  seconds: Object.fromEntries(COMMIT_ID_WORK.map((work) => [work, 0])) as CommitIdSpend['seconds'],
  count: Object.fromEntries(COMMIT_ID_WORK.map((work) => [work, 0])) as CommitIdSpend['count'],
};

/** A process that has not started yet: everything it does counts. */
export const NOTHING_SPENT = NONE;

/** A node process's totals, from its metrics page. */
export async function spentBy(metricsPort: number): Promise<CommitIdSpend> {
  const page = await scrapeMetrics(metricsPort);
  const of = (name: string) =>
    Object.fromEntries(COMMIT_ID_WORK.map((work) => [work, metricOf(page, name, { work })]));
  return {
    seconds: of('tidemark_commit_id_seconds_total') as CommitIdSpend['seconds'],
    count: of('tidemark_commit_id_operations_total') as CommitIdSpend['count'],
  };
}

/** The bench process's own totals (its writes on A's file, and an in-process node's serving). */
export function spentHere(): CommitIdSpend {
  const cost = commitIdCost();
  return {
    seconds: Object.fromEntries(COMMIT_ID_WORK.map((w) => [w, cost[w].seconds])) as CommitIdSpend['seconds'],
    count: Object.fromEntries(COMMIT_ID_WORK.map((w) => [w, cost[w].count])) as CommitIdSpend['count'],
  };
}

export function spentBetween(before: CommitIdSpend, after: CommitIdSpend): CommitIdSpend {
  const minus = (key: 'seconds' | 'count') =>
    Object.fromEntries(COMMIT_ID_WORK.map((w) => [w, after[key][w] - before[key][w]]));
  return {
    seconds: minus('seconds') as CommitIdSpend['seconds'],
    count: minus('count') as CommitIdSpend['count'],
  };
}

export function totalSeconds(spend: CommitIdSpend): number {
  return COMMIT_ID_WORK.reduce((sum, work) => sum + spend.seconds[work], 0);
}

/** The phase's commit-id work in CPU seconds: operations counted in the run x unit costs. */
export interface CommitIdShare {
  readonly phaseSeconds: number;
  /** CPU the node processes used in the phase (all threads), when /proc has it. */
  readonly cpuSeconds: number | undefined;
  /** Operations each process counted in the phase, and their wall time from call to settled promise. */
  readonly byProcess: { readonly [process: string]: CommitIdSpend };
  readonly unitCost: CommitIdUnitCost;
  /** CPU seconds by work: count x unit cost; `validate` is timed in the run (synchronous). */
  readonly cpuByWork: { readonly [work in CommitIdWork]: number };
  /** Every piece but the history mark: the commit-id check itself. */
  readonly checkCpuSeconds: number;
  readonly markCpuSeconds: number;
  /** checkCpuSeconds over the processes' CPU in the phase. */
  readonly checkShareOfCpu: number | undefined;
  /** checkCpuSeconds over the phase's wall time: its share if all of it were on the critical path. */
  readonly checkShareOfWall: number;
  readonly markShareOfCpu: number | undefined;
}

export function commitIdShare(
  phaseSeconds: number,
  cpuSeconds: number | undefined,
  byProcess: { readonly [process: string]: CommitIdSpend },
  unitCost: CommitIdUnitCost,
): CommitIdShare {
  const sum = (key: 'seconds' | 'count', work: CommitIdWork) =>
    Object.values(byProcess).reduce((total, spend) => total + spend[key][work], 0);
  const cpuByWork = {
    record: sum('count', 'record') * unitCost.record,
    checkpoint: sum('count', 'checkpoint') * unitCost.lookup,
    resume: sum('count', 'resume') * unitCost.resume,
    mark: sum('count', 'mark') * unitCost.mark,
    validate: sum('seconds', 'validate'),
  };
  const checkCpuSeconds = cpuByWork.record + cpuByWork.checkpoint + cpuByWork.resume + cpuByWork.validate;
  const markCpuSeconds = cpuByWork.mark;
  return {
    phaseSeconds,
    cpuSeconds,
    byProcess,
    unitCost,
    cpuByWork,
    checkCpuSeconds,
    markCpuSeconds,
    checkShareOfCpu: cpuSeconds ? checkCpuSeconds / cpuSeconds : undefined,
    checkShareOfWall: checkCpuSeconds / phaseSeconds,
    markShareOfCpu: cpuSeconds ? markCpuSeconds / cpuSeconds : undefined,
  };
}
