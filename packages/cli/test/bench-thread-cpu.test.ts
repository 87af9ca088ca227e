import * as fs from 'node:fs';
import { cpuBetween, readThreadCpu } from '../src/bench/thread-cpu';

const linux = fs.existsSync('/proc/self/task');

(linux ? test : test.skip)(
  'main-thread CPU of this process grows while it computes; other threads are counted apart',
  () => {
    const before = readThreadCpu(process.pid)!;
    expect(before.main).toBeGreaterThan(0);
    let after = readThreadCpu(process.pid)!;
    // Compute until the main thread has 0.3 s (30 of the kernel's 10 ms ticks), so that it
    // outweighs what background threads (GC, compilers) do meanwhile; a single tick did not on a
    // busy machine (main 0.02 s, others 0.03 s). Bounded so a broken reader fails, not hangs.
    for (let spins = 0; after.main - before.main < 0.3 && spins < 200; spins++) {
      const until = process.hrtime.bigint() + 20_000_000n;
      while (process.hrtime.bigint() < until);
      after = readThreadCpu(process.pid)!;
    }
    const used = cpuBetween(before, after)!;
    expect(used.main).toBeGreaterThan(0);
    expect(used.other).toBeGreaterThanOrEqual(0);
    // Only the main thread was computing: the split must put the time there.
    expect(used.main).toBeGreaterThanOrEqual(used.other);
  },
);

test('no /proc entry for the process: no reading, and no difference', () => {
  expect(readThreadCpu(2 ** 22 + 12345)).toBeUndefined();
  expect(cpuBetween(undefined, { main: 1, other: 1 })).toBeUndefined();
});
