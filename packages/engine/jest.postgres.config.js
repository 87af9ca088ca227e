/**
 * The engine's scenario, write-path, apply and serve suites again, on the PostgreSQL store: every
 * library these tests create through `createLibrary` is a hub in a fresh schema of the server
 * TIDEMARK_TEST_PG_URL names (`.ci/run` starts one). In the convergence property test device 0
 * is a hub and the others SQLite files. Pure unit tests (HLC, DER, packing, digests' vectors) and
 * tests of SQLite's own files (modes, restores by file copy, legacy files, the WAL watch's unit
 * tests, schema migrations of SQLite) run once, in jest.config.js. `*.postgres.test.ts` run only here.
 */
const PARAMETERIZED = [
  'apply-checkpoint',
  'apply-commit-notice',
  'apply-covered',
  'apply-drift-count',
  'apply-lww',
  'apply-refusals',
  'apply-versions-in-one-batch',
  'byte-budget',
  'byte-budget-cut',
  'clock-step',
  'convergence.property',
  'cursor-reset',
  'deletes',
  'device-names',
  'digest-check-findings',
  'digest-limits',
  'digest-protocol-vectors',
  'digest-tombstones',
  'digest-whole-type',
  'follow-during-page-read',
  'follow-mixed-writers',
  'follow-other-process',
  'handshake-heads',
  'joiner-before-membership',
  'large-row-batches',
  'membership-forgery',
  'membership-removal',
  'origin-filter',
  'owner-invariants',
  'own-lineage-coverage',
  'own-lineage-mark',
  'put-all',
  'reads',
  'resume-at-every-cut',
  'rows-outrun-admission',
  'same-time-bulk',
  'seed-scenario',
  'serve-batch-size',
  'serve-origins',
  'serve-stream',
  'shared-page-reads',
  'smoke',
  'sync-state-reads',
  'write-during-backfill',
];

const os = require('node:os');
const preset = require('../../jest.preset.js')(__dirname);

/** @type {import('jest').Config} */
module.exports = {
  ...preset,
  displayName: 'engine (postgres)',
  testMatch: [
    ...PARAMETERIZED.map((name) => `<rootDir>/test/${name}.test.ts`),
    '<rootDir>/test/**/*.postgres.test.ts',
  ],
  setupFiles: ['<rootDir>/test/postgres-store.setup.js'],
  // One more worker than cores: these tests wait on the PostgreSQL server, a process of its own
  // (on 2 cores: 195 s with two workers, 181 s with three).
  maxWorkers: os.availableParallelism() + 1,
};
