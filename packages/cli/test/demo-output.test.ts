import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, removeTempDirs, tempDir } from './harness';

/**
 * `tidemark demo` as a person sees it: run under a pseudo-terminal of 120 columns (util-linux
 * `script`), so the progress bars are drawn as on a real terminal, then read back line by line.
 */

const COLUMNS = 120;
const BAR = /^ (\S+)\s+\|[█░]+\| /;
/** Everything a bar may say after its bar: counts, then a known rate and a known ETA, or done. */
const BAR_LINE =
  /^ \S+\s+\|[█░]+\| (caught up, nothing to send|[\d,]+\/[\d,]+ rows( \| [\d,]+ rows\/s)?( \| (done|ETA (\d+s|\d+m\d\ds|\d+h\d\dm)))?)$/;
// eslint-disable-next-line no-control-regex
const CONTROL_SEQUENCE = /\x1b\[[0-9;?]*[A-Za-z]/g;
// eslint-disable-next-line no-control-regex
const CURSOR_UP = /\x1b\[\d*A/;
/** From hiding the cursor to showing it again: while progress bars own the screen. */
// eslint-disable-next-line no-control-regex
const BARS_SHOWN = /\x1b\[\?25l([\s\S]*?)\x1b\[\?25h/g;
/** What pino (pretty or JSON) prints, in any of its levels. */
const LOG_LINE = /\b(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\b|"level":|"msg":/;

interface Screen {
  readonly code: number | null;
  readonly raw: string;
  /** The output with terminal control sequences removed, split at every line break. */
  readonly lines: readonly string[];
}

const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

function runInTerminal(args: readonly string[]): Promise<Screen> {
  const command = `stty cols ${COLUMNS} rows 50 && exec ${[process.execPath, BIN, ...args].map(quote).join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let raw = '';
    child.stdout.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const plain = raw.replace(CONTROL_SEQUENCE, '');
      resolve({ code, raw, lines: plain.split(/\r\n|\r|\n/) });
    });
  });
}

/** The lines of step `n` ("n. …") up to the next step or the end. */
function step(lines: readonly string[], n: number): string[] {
  const start = lines.findIndex((line) => line.startsWith(`${n}. `));
  if (start < 0) throw new Error(`step ${n} is missing from the output:\n${lines.join('\n')}`);
  const end = lines.findIndex((line, i) => i > start && /^\d\. |^(verified|NOT VERIFIED):/.test(line));
  return lines.slice(start, end < 0 ? undefined : end);
}

/** The rows of the first table in `lines` whose header has `column`, keyed by its first cell. */
function table(lines: readonly string[], column: string): Map<string, Record<string, string>> {
  const header = lines.findIndex((line) => line.startsWith('   resource ') && line.includes(column));
  if (header < 0) throw new Error(`no table with a "${column}" column in:\n${lines.join('\n')}`);
  const split = (line: string) => line.trim().split(/\s{2,}/);
  const names = split(lines[header]);
  const rows = new Map<string, Record<string, string>>();
  for (const line of lines.slice(header + 2)) {
    if (!line.trim()) break;
    const cells = split(line);
    rows.set(cells[0], Object.fromEntries(names.map((name, i) => [name, cells[i]])));
  }
  return rows;
}

const count = (text: string) => Number(text.replace(/,/g, ''));

/** The last drawing of each type's bar in `lines`. */
function lastBars(lines: readonly string[]): Map<string, string> {
  const bars = new Map<string, string>();
  for (const line of lines) {
    const match = BAR.exec(line);
    if (match) bars.set(match[1], line);
  }
  return bars;
}

let root: string;
let screen: Screen;

beforeAll(async () => {
  root = path.join(tempDir('tidemark-demo-output-'), 'demo');
  // Half of 8,200 entries is not a whole number of 500-row batches, so B always holds more than
  // half at the cut: a sentence that said "half" would disagree with the table. Batches are
  // applied in groups of up to 8, so B holds at most 4,500 + 7 × 500 = 8,000: step 4 always has
  // entries left to resume.
  screen = await runInTerminal(['demo', '--entries', '8200', '--batch-size', '500', '--dir', root, '--keep']);
}, 120_000);

afterAll(removeTempDirs);

test('the demo exits 0 and verifies under a terminal', () => {
  expect({ code: screen.code, verified: screen.lines.some((line) => line.startsWith('verified: ')) }).toEqual(
    {
      code: 0,
      verified: true,
    },
  );
  // The bars were really drawn as on a terminal (redrawn in place), not as plain lines.
  expect(screen.raw).toMatch(CURSOR_UP);
});

test('every line fits in the terminal', () => {
  expect(screen.lines.filter((line) => line.length > COLUMNS)).toEqual([]);
});

test('no bar prints an unknown ETA as "ETA LLs"', () => {
  expect(screen.raw).not.toContain('LLs');
});

test('no bar prints an unknown rate as "- rows/s"', () => {
  expect(screen.raw).not.toContain('- rows/s');
});

test('every bar shows counts, then a known rate and a known ETA, or done', () => {
  const bars = screen.lines.filter((line) => BAR.test(line));
  expect(bars.length).toBeGreaterThan(10);
  expect(bars.filter((line) => !BAR_LINE.test(line))).toEqual([]);
});

test('no log line is printed, and nothing but bars is drawn while the bars own the screen', () => {
  expect(screen.lines.filter((line) => LOG_LINE.test(line))).toEqual([]);
  // The renderer hides the cursor when its first bar appears and shows it again when it stops.
  const sessions = [...screen.raw.matchAll(BARS_SHOWN)].map((match) =>
    match[1].replace(CONTROL_SEQUENCE, '').split(/\r\n|\r|\n/),
  );
  expect(sessions.length).toBe(3); // indexing, the pass cut short, the resumed pass
  for (const lines of sessions) expect(lines.filter((line) => line.trim() && !BAR.test(line))).toEqual([]);
  // The nodes' logs were kept, in files, not dropped.
  expect(fs.readFileSync(path.join(root, 'device-a', 'node.log'), 'utf8')).toContain('"msg":"listening"');
  expect(fs.readFileSync(path.join(root, 'device-b', 'node.log'), 'utf8')).toContain('INSECURE MODE');
});

test('the cut sentence gives the entry counts and watermark of the table under it', () => {
  const lines = step(screen.lines, 3);
  const entry = table(lines, 'watermark seq').get('entry')!;
  const sentence = lines
    .slice(
      0,
      lines.findIndex((line) => line.startsWith('   resource ')),
    )
    .join(' ');
  const counts = /([\d,]+) of (?:A's )?([\d,]+) entries/.exec(sentence);
  expect(counts).not.toBeNull();
  expect([count(counts![1]), count(counts![2])]).toEqual([
    count(entry['rows on B']),
    count(entry['rows on A']),
  ]);
  const watermark = /watermark(?: seq)? ([\d,]+)/.exec(sentence);
  expect(watermark && count(watermark[1])).toBe(count(entry['watermark seq']));
});

test('on resume, types caught up before the cut say so, and the others get exactly what B lacked', () => {
  const atCut = table(step(screen.lines, 3), 'watermark seq');
  const bars = lastBars(step(screen.lines, 4));
  expect([...bars.keys()]).toEqual([...atCut.keys()]);
  for (const [type, row] of atCut) {
    const bar = bars.get(type)!;
    expect(bar).not.toContain('0/1 rows');
    if (row['watermark seq'] === row['A head seq']) {
      expect({ type, bar }).toEqual({ type, bar: expect.stringMatching(/\| caught up, nothing to send$/) });
    } else {
      const lacked = count(row['rows on A']) - count(row['rows on B']);
      expect({ type, bar }).toEqual({
        type,
        bar: expect.stringMatching(
          new RegExp(`\\| ${lacked.toLocaleString('en-US')}/[\\d,]+ rows .*\\| done$`),
        ),
      });
    }
  }
});

test('the final sentence counts the rows of the table above it', () => {
  const digests = table(step(screen.lines, 5), 'digest');
  const onA = [...digests.values()].reduce((sum, row) => sum + count(row['rows on A']), 0);
  const verdict = screen.lines.find((line) => line.startsWith('verified: '))!;
  expect(count(/^verified: ([\d,]+) rows/.exec(verdict)![1])).toBe(onA);
  expect(verdict).toMatch(/, 0 rows sent twice across the cut/);
});
