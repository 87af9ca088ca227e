// Mutation testing of the engine's sync core: `npm run mutate` at the repository root (never in
// CI: a full run takes far longer than the suite). One file at a time:
//   npm run mutate -- --mutate packages/engine/src/digest.ts
// Paths are relative to the repository root, where the script runs: the engine's jest config
// reaches `../../jest.preset.js` and `tsconfig.base.json`, so the sandbox Stryker copies the
// project into must hold the root as well. Only what the engine's tests read is copied.
//
// TIDEMARK_MUTATE_QUICK=1 leaves the property tests out of the run. The convergence property
// alone takes minutes, and every surviving or hanging mutant of the sync core runs it whole; a
// mutant that survives only without it is then checked against it by hand (see the issue notes).
import { fileURLToPath } from 'node:url';

const quick = process.env.TIDEMARK_MUTATE_QUICK === '1';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'jest',
  jest: {
    projectType: 'custom',
    configFile: 'packages/engine/jest.config.js',
    config: {
      // Credits what a `beforeAll` hook executes to the tests of its block; stops a mutant's run
      // at its first failing test (see the files).
      testEnvironment: fileURLToPath(new URL('./stryker-environment.js', import.meta.url)),
      testSequencer: fileURLToPath(new URL('./stryker-sequencer.js', import.meta.url)),
      // Replaces jest.config.js' list, so its PostgreSQL-only pattern is repeated here.
      ...(quick
        ? {
            testPathIgnorePatterns: [
              '/node_modules/',
              '\\.postgres\\.test\\.ts$',
              '\\.property\\.test\\.ts$',
            ],
          }
        : {}),
    },
  },
  // Only the tests that cover a mutant run against it: the suite takes minutes per run.
  coverageAnalysis: 'perTest',
  mutate: [
    'packages/engine/src/apply.ts',
    'packages/engine/src/digest.ts',
    'packages/engine/src/serve.ts',
    'packages/engine/src/watermarks.ts',
  ],
  ignorePatterns: [
    '/*',
    '!/package.json',
    '!/jest.preset.js',
    '!/tsconfig.base.json',
    '!/packages',
    '/packages/*',
    '!/packages/engine',
    // packages/engine/dist is copied too: follow-other-process.test.ts runs its commit writer, the
    // other process, from the built engine. Only the serving side in the test's own process is
    // the mutated source; the writer only commits. Build the engine before a run.
  ],
  // Two cores, shared: one runner per core at most.
  concurrency: 2,
  // Added to 1.5x the covering tests' own time and the dry run's overhead. On a loaded shared
  // machine a mutant's run took over a minute (before stryker-sequencer.js kept only the test
  // files that hold its tests): with 20 s, mutants that the tests do kill, and some that no test
  // kills, came out as timeouts. Code a mutant makes loop forever is cut by Stryker's hit limit long before this.
  timeoutMS: 120_000,
  // The dry run runs the whole suite with coverage: minutes, more on a busy machine.
  dryRunTimeoutMinutes: 20,
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/engine.html' },
  jsonReporter: { fileName: 'reports/mutation/engine.json' },
  thresholds: { high: 90, low: 80, break: null },
};
