// The jest environment of `npm run mutate` only (stryker.config.mjs names it; the suite itself
// runs in jest's plain node environment). Stryker's own environment wraps this one.
//
// Coverage of `beforeAll` hooks. With "perTest" coverage Stryker runs a mutant against the tests
// that executed it. Code run by a `beforeAll` hook belongs to no test, so Stryker counts it as
// "static" and runs the WHOLE suite for every such mutant. Many engine scenario tests sync
// libraries in `beforeAll`, which made most mutants of apply.ts and serve.ts static. Jest runs a
// block's `beforeAll` whenever any test of the block runs, so the tests of that block are exactly
// the ones that can see such a mutant: the dry run credits them with the hook's coverage.
//
// Bail. Stryker counts a mutant killed by its first failing test, but its jest runner always runs
// every selected test (jest's own `bail` is turned off). Under a mutant, once a test has failed
// in a run, the remaining tests of that run are skipped: the verdict is the same, the run shorter.
//
// Test names by file. Stryker selects a mutant's tests by name only, so jest would still load
// every test file (tens of seconds) to run two tests. The dry run writes each file's test names
// under the sandbox; stryker-sequencer.js keeps only the files that hold a selected test.
const fs = require('node:fs');
const { TestEnvironment } = require('jest-environment-node');
const { NAMES_DIR, namesFile } = require('./stryker-test-names');

const IN_HOOK = '(beforeAll hook)';

/** A test's name as Stryker's jest environment writes it: its describe blocks', then its own. */
function fullName(test) {
  const names = [];
  for (let block = test.parent; block && block.parent; block = block.parent) names.unshift(block.name);
  return [...names, test.name].join(' ').trimStart();
}

function testsUnder(block) {
  return block.children.flatMap((child) => (child.type === 'test' ? [child] : testsUnder(child)));
}

class MutationTestingEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    // One object per jest run, shared by its test files: names the run a failure belongs to.
    this.run = config.globalConfig;
    this.testPath = context.testPath;
    this.names = [];
  }

  async teardown() {
    if (process.env.__STRYKER_ACTIVE_MUTANT__ === undefined && this.testPath) {
      fs.mkdirSync(NAMES_DIR(), { recursive: true });
      fs.writeFileSync(namesFile(this.testPath), JSON.stringify({ path: this.testPath, names: this.names }));
    }
    await super.teardown();
  }

  handleTestEvent(event) {
    const context = this.global[this.global.__strykerGlobalNamespace__ ?? '__stryker__'];
    if (!context) return;
    if (process.env.__STRYKER_ACTIVE_MUTANT__ !== undefined) {
      const runsWithAFailure = (context.runsWithAFailure ??= new WeakSet());
      // A skipped block runs none of its hooks either: a later file's `beforeAll` costs nothing.
      if (event.name === 'run_describe_start' && runsWithAFailure.has(this.run)) {
        event.describeBlock.mode = 'skip';
      }
      if (event.name === 'test_start' && runsWithAFailure.has(this.run)) event.test.mode = 'skip';
      if (event.name === 'test_done' && event.test.errors.length > 0) runsWithAFailure.add(this.run);
      return;
    }
    if (event.name === 'test_done') this.names.push(fullName(event.test));
    if (!event.name.startsWith('hook_') || event.hook.type !== 'beforeAll') return;
    if (event.name === 'hook_start') {
      context.currentTestId = IN_HOOK;
      return;
    }
    context.currentTestId = undefined;
    const perTest = context.mutantCoverage?.perTest;
    const hits = perTest?.[IN_HOOK];
    if (!hits) return;
    delete perTest[IN_HOOK];
    for (const test of testsUnder(event.hook.parent)) {
      const counts = (perTest[fullName(test)] ??= {});
      for (const [mutant, count] of Object.entries(hits)) counts[mutant] = (counts[mutant] ?? 0) + count;
    }
  }
}

module.exports = MutationTestingEnvironment;
