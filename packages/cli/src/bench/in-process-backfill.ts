/**
 * Measures the engine alone, in one process: A indexes N synthetic entries, B backfills them over the in-memory
 * transport (every batch encoded to protobuf and decoded again), and the script prints rows/s
 * and peak RSS. Not a test; run after a build:
 *
 *   node packages/cli/dist/bench/in-process-backfill.js --entries 100000 --batch 5000
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lastValueFrom, tap } from 'rxjs';
import {
  digestsEqual,
  Library,
  LibrarySyncService,
  readDigest,
  RESOURCE_NAMES,
  syncFromPeer$,
} from '@tidemark/engine';
import { InMemoryTransport, writeSyntheticLibrary } from '@tidemark/engine/testing';

interface Options {
  readonly entries: number;
  readonly batch: number;
  readonly keep: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const value = (flag: string, fallback: number): number => {
    const at = argv.indexOf(flag);
    if (at < 0) return fallback;
    const parsed = Number(argv[at + 1]);
    if (!Number.isSafeInteger(parsed) || parsed <= 0) {
      throw new Error(`${flag} needs a positive integer, got "${argv[at + 1] ?? ''}"`);
    }
    return parsed;
  };
  return {
    entries: value('--entries', 100_000),
    batch: value('--batch', 5_000),
    keep: argv.includes('--keep'),
  };
}

const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-'));
  const a = await Library.create(Library.fileIn(path.join(dir, 'a')), { deviceName: 'bench-a' });
  const b = await Library.create(Library.fileIn(path.join(dir, 'b')), {
    libraryId: a.identity.libraryId,
    deviceName: 'bench-b',
  });
  try {
    let started = performance.now();
    await writeSyntheticLibrary(a, { volumes: 5, locations: 100, entries: options.entries });
    const writeMs = performance.now() - started;
    const rssAfterWriteKb = process.resourceUsage().maxRSS;

    let received = 0;
    let batches = 0;
    started = performance.now();
    await lastValueFrom(
      syncFromPeer$(b, new InMemoryTransport(new LibrarySyncService(a)), { batchSize: options.batch }).pipe(
        tap((event) => {
          if (event.kind === 'batch') {
            received += event.received;
            batches += 1;
          }
          if (event.kind === 'backfilled' && event.failed.length)
            throw new Error(`failed types: ${event.failed}`);
        }),
      ),
    );
    const backfillMs = performance.now() - started;
    const peakRssKb = process.resourceUsage().maxRSS;

    for (const name of RESOURCE_NAMES.filter((n) => n !== 'device')) {
      const [digestA, digestB] = [await readDigest(a, name), await readDigest(b, name)];
      if (!digestsEqual(digestA, digestB)) throw new Error(`${name} differs after the backfill`);
    }

    const rows = received;
    console.log(
      [
        `entries written on A:     ${options.entries} in ${seconds(writeMs)} (${Math.round(options.entries / (writeMs / 1000))} rows/s)`,
        `backfill A -> B:          ${rows} rows in ${batches} batches of <= ${options.batch}, ${seconds(backfillMs)}`,
        `backfill rate:            ${Math.round(rows / (backfillMs / 1000))} rows/s`,
        `peak RSS after writing:   ${mb(rssAfterWriteKb)}`,
        `peak RSS (whole run):     ${mb(peakRssKb)}`,
        `digests:                  equal for every type`,
        `node ${process.version}, ${os.cpus().length} cpu(s) ${os.cpus()[0]?.model ?? ''}`,
      ].join('\n'),
    );
  } finally {
    await a.close();
    await b.close();
    if (!options.keep) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`libraries kept in ${dir}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
