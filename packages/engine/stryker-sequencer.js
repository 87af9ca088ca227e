// The jest test order of `npm run mutate` only (stryker.config.mjs names it). A mutant's run
// stops at its first failing test (see stryker-environment.js), so the quickest test files run
// first; jest's own order runs the slowest first, to keep parallel workers busy, which a
// one-worker mutant run does not need. Files with no recorded time go last, smallest first.
//
// A mutant's run names its tests (jest's testNamePattern); the run keeps only the test files that
// hold one of them, by the names the dry run recorded (stryker-environment.js). A file with no
// record, or a run whose names match no record, keeps every file: the filter never drops a test.
const fs = require('node:fs');
const Sequencer = require('@jest/test-sequencer').default;
const { namesFile } = require('./stryker-test-names');

function recordedNames(testPath) {
  try {
    return JSON.parse(fs.readFileSync(namesFile(testPath), 'utf8')).names;
  } catch {
    return undefined;
  }
}

class FastestFirst extends Sequencer {
  constructor(options) {
    super(options);
    this.namePattern = options?.globalConfig?.testNamePattern;
  }

  selected(tests) {
    if (!this.namePattern) return tests;
    const pattern = new RegExp(this.namePattern, 'i');
    const kept = tests.filter((test) => {
      const names = recordedNames(test.path);
      return names === undefined || names.some((name) => pattern.test(name));
    });
    return kept.length > 0 ? kept : tests;
  }

  sort(allTests) {
    const tests = this.selected(allTests);
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
