// Where the dry run of `npm run mutate` records each test file's test names (see
// stryker-environment.js and stryker-sequencer.js): a folder in the sandbox, one file per test file.
const crypto = require('node:crypto');
const path = require('node:path');

const NAMES_DIR = () => path.join(process.cwd(), '.stryker-test-names');

function namesFile(testPath) {
  const key = crypto.createHash('sha1').update(testPath).digest('hex').slice(0, 16);
  return path.join(NAMES_DIR(), `${key}.json`);
}

module.exports = { NAMES_DIR, namesFile };
