// One jest setup for every package: ts-jest in transpile-only mode (typechecking is its own
// CI step), tests beside the code (`*.test.ts`) or in the package's `test/` for multi-process suites.
const os = require('node:os');
const path = require('node:path');

/**
 * Two test files at once even on 2 cores (jest's default there is one): most suites spend their
 * time waiting on child processes, gRPC and timers, so one worker left a core idle. On this 2-core
 * machine the CLI suite took 693 s in a clean-clone CI with one worker and 365 s with two (170%
 * CPU); the engine's SQLite suite 364 s and 155 s.
 */
const maxWorkers = Math.max(2, os.availableParallelism() - 1);

module.exports = (packageDir) => ({
  displayName: path.basename(packageDir),
  rootDir: packageDir,
  testEnvironment: 'node',
  testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(packageDir, 'tsconfig.spec.json'), diagnostics: false }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 120000,
  maxWorkers,
});
