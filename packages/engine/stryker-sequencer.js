// The jest test order of `npm run mutate` only (stryker.config.mjs names it). A mutant's run
// stops at its first failing test (see stryker-environment.js), so the quickest test files run
// first; jest's own order runs the slowest first, to keep parallel workers busy, which a
// one-worker mutant run does not need. Files with no recorded time go last, smallest first.
const Sequencer = require('@jest/test-sequencer').default;

class FastestFirst extends Sequencer {
  sort(tests) {
    const timed = tests.map((test) => ({ test, time: this.time(test) }));
    const order = ({ time, test }) => [
      time == null ? 1 : 0,
      time ?? test.context.hasteFS.getSize(test.path) ?? 0,
    ];
    return timed
      .sort((a, b) => {
        const [x, y] = [order(a), order(b)];
        return x[0] - y[0] || x[1] - y[1];
      })
      .map(({ test }) => test);
  }
}

module.exports = FastestFirst;
