/** @type {import('jest').Config} */
module.exports = {
  ...require('../../jest.preset.js')(__dirname),
  // PostgreSQL-only suites run in jest.postgres.config.js, with the parameterized ones.
  testPathIgnorePatterns: ['/node_modules/', '\\.postgres\\.test\\.ts$'],
};
