const os = require('node:os');

/**
 * One more worker than cores: these suites run real nodes and CLI processes and mostly wait on
 * them (timeouts, a wrong clock's catch-up, file-system events). Measured on 2 cores: 365 s with
 * two workers at 170% CPU (without the three hub tests), 320 s with three at 195% (with them).
 */
/** @type {import('jest').Config} */
module.exports = {
  ...require('../../jest.preset.js')(__dirname),
  maxWorkers: os.availableParallelism() + 1,
};
