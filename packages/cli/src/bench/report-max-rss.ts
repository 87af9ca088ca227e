/**
 * Preloaded (`node --require`) into a measured `tidemark` process: at exit it writes the
 * process's peak resident set size (getrusage ru_maxrss, exact, unlike sampling) to the file
 * named by TIDEMARK_BENCH_MAX_RSS_FILE. Works for any build of the CLI, so main can be measured.
 */
import * as fs from 'node:fs';

const file = process.env.TIDEMARK_BENCH_MAX_RSS_FILE;
if (file) {
  process.on('exit', () => {
    fs.writeFileSync(file, String(process.resourceUsage().maxRSS * 1024));
  });
}
