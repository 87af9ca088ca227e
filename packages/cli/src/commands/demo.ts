import {
  compareWithPeer,
  decodeHlc,
  Library,
  RESOURCE_NAMES,
  ResourceName,
  readResourceHeads,
  readWatermarks,
  ResourceWatermark,
  resourceNameOf,
  SyncEvent,
  syncFromPeer$,
  TidemarkError,
} from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import { createLogger, GrpcSyncTransport, startNode } from '@tidemark/node';
import { Command } from 'commander';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lastValueFrom, tap } from 'rxjs';
import { ChildNode } from '../demo/child-node';
import { EXIT } from '../exit-codes';
import { freePort } from '../free-port';
import { positiveInt } from '../options';
import { formatCount, formatTable, formatTime, printJson } from '../output';
import { createProgressReporter } from '../progress';

interface DemoOptions {
  entries: number;
  batchSize: number;
  dir?: string;
  keep?: boolean;
  json?: boolean;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('two nodes, one library, a connection cut mid-backfill: resumed and verified')
    .option('--entries <n>', 'entries to index on device A', positiveInt('--entries'), 40_000)
    .option('--batch-size <n>', 'rows per batch', positiveInt('--batch-size'), 2_000)
    .option('--dir <dir>', 'where to put the two libraries (default: a new temporary folder)')
    .option('--keep', 'keep the libraries afterwards (printed at the end)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
What it does:
  1. creates libraries A and B (one library, two devices) and indexes a synthetic tree on A
  2. starts node A (a child process) and node B (this process)
  3. B backfills from A, resource type by resource type, with progress bars
  4. half-way through the entries, node A is killed with SIGKILL: the connection is cut
  5. A restarts; B resumes from its per-resource watermarks
  6. per-type digests of A and B are compared; exit 0 only when they are equal

Example:
  $ tidemark demo
  $ tidemark demo --entries 200000 --keep`,
    )
    .action(async (options: DemoOptions) => {
      process.exitCode = await runDemo(options);
    });
}

async function runDemo(options: DemoOptions): Promise<number> {
  const json = !!options.json;
  const say = (text: string) => {
    if (!json) process.stdout.write(text + '\n');
  };
  const progress = () => createProgressReporter({ json, tty: !!process.stderr.isTTY });
  const root = options.dir
    ? path.resolve(options.dir)
    : fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-demo-'));
  const dirA = path.join(root, 'device-a');
  const dirB = path.join(root, 'device-b');
  const started = Date.now();

  const libraryA = await Library.create(Library.fileIn(dirA), { name: 'demo', deviceName: 'device-a' });
  const { libraryId } = libraryA.identity;
  const libraryB = await Library.create(Library.fileIn(dirB), {
    libraryId,
    name: 'demo',
    deviceName: 'device-b',
  });
  await libraryB.close();
  say(
    `Tidemark demo: library ${libraryId}\n  A ${libraryA.identity.deviceId}  ${dirA}\n  B ${libraryB.identity.deviceId}  ${dirB}\n`,
  );

  say(
    `1. indexing on A: 5 volumes, 100 locations, ${formatCount(options.entries)} entries,\n` +
      '   2,000 content identities, 50 tags on 150 contents, 10 collections',
  );
  const indexing = progress();
  const indexStart = Date.now();
  await writeSyntheticLibrary(libraryA, {
    volumes: 5,
    locations: 100,
    entries: options.entries,
    entriesPerTransaction: 5_000,
    shared: { contents: 2_000, tags: 50, collections: 10 },
    onProgress: (type, done, total) => indexing.onRows(type, done, total),
  });
  indexing.stop();
  const headsA = await readResourceHeads(libraryA);
  await libraryA.close();
  say(`   done in ${((Date.now() - indexStart) / 1000).toFixed(1)} s\n`);

  const nodeA = new ChildNode(dirA, `127.0.0.1:${await freePort()}`);
  await nodeA.start();
  const nodeB = await startNode({
    libraryFile: Library.fileIn(dirB),
    listen: '127.0.0.1:0',
    insecure: true,
    // The terminal belongs to the demo's own lines and bars: the node logs to a file.
    logger: createLogger({ file: path.join(dirB, 'node.log') }),
  });
  say(`2. node A listening on ${nodeA.address} (child process), node B on ${nodeB.address} (this process)`);
  say('   both with --insecure (plaintext, loopback only), each logging to node.log in its folder');
  say(
    `   B backfills from A in batches of ${formatCount(options.batchSize)}, each type from its own watermark`,
  );

  const totalRows = headsA.reduce((sum, head) => sum + head.rowCount + head.tombstoneCount, 0);
  const entriesOnA = headsA.find((head) => resourceNameOf(head.resourceType) === 'entry')?.rowCount ?? 0;
  const cutAt = Math.floor(entriesOnA / 2);
  let resumedRows = 0;
  const syncStart = Date.now();
  try {
    // First pass: cut the connection once B has applied half of A's entries. B drops its end at
    // once and A is killed with SIGKILL. Batches still in flight are never applied, but those
    // applied in the same group as the one that passed half are kept, so B holds somewhat more.
    const firstPass = progress();
    let cut: Promise<void> | undefined;
    const cutError = new TidemarkError('UNAVAILABLE', 'connection cut by the demo');
    const transport = new GrpcSyncTransport(nodeA.address, { insecure: true });
    const firstError = await lastValueFrom(
      syncFromPeer$(nodeB.library, transport, { batchSize: options.batchSize }).pipe(
        tap((event: SyncEvent) => {
          firstPass.onSync(event);
          if (event.kind !== 'batch') return;
          if (!cut && event.resourceType === 'entry' && event.totalReceived >= cutAt) {
            cut = nodeA.kill();
            throw cutError;
          }
        }),
      ),
      { defaultValue: undefined },
    ).then(
      () => undefined,
      (error: unknown) => error,
    );
    firstPass.stop();
    transport.close();
    await cut;
    // Without a cut, the first pass either failed on its own or ran out of entries to cut in.
    if (!cut && firstError !== undefined) throw firstError;
    if (!cut) throw new TidemarkError('INTERNAL', 'the backfill finished before the cut; use more --entries');
    // The sentence and the table under it are worded from this one reading of B.
    const atCut = await standingOf(nodeB.library);
    const entriesAtCut = atCut.held[ENTRY].rowCount;
    say(
      `\n3. connection cut: node A killed with SIGKILL once B had passed half of A's entries` +
        `${firstError === cutError ? '' : ` (${String(firstError)})`}\n` +
        `   B holds ${formatCount(entriesAtCut)} of A's ${formatCount(entriesOnA)} entries, up to watermark seq ` +
        `${watermarkOf(atCut, 'entry')}.`,
    );
    say(
      '   B keeps one watermark per resource type, so nothing older than the last entry batch is skipped:\n',
    );
    say(indent(watermarkTable(atCut, headsA)));

    await nodeA.start();
    say(`\n4. node A restarted on ${nodeA.address}; B resumes from its watermarks`);
    const secondPass = progress();
    const resume = new GrpcSyncTransport(nodeA.address, { insecure: true });
    await lastValueFrom(
      syncFromPeer$(nodeB.library, resume, { batchSize: options.batchSize }).pipe(
        tap((event: SyncEvent) => {
          secondPass.onSync(event);
          if (event.kind === 'batch') resumedRows += event.received;
          if (event.kind === 'type_failed') throw event.error;
        }),
      ),
      { defaultValue: undefined },
    );
    secondPass.stop();
    const syncSeconds = (Date.now() - syncStart) / 1000;

    // Verify with the peer's own digests, over gRPC.
    const rows = await compareWithPeer(nodeB.library, resume);
    resume.close();
    const verified = rows.every((row) => row.equal);
    const atEnd = await standingOf(nodeB.library);
    const throughput = Math.round(totalRows / syncSeconds);
    // Every row received on resume is new on B unless it was sent twice.
    const resent = resumedRows - (itemsHeld(atEnd) - itemsHeld(atCut));
    say('\n5. verify: per-type digests of B against A\n');
    say(
      indent(
        formatTable(
          ['resource', 'rows on A', 'rows on B', 'digest'],
          rows.map((row) => [
            row.resourceType,
            formatCount(row.peer.rows),
            formatCount(row.local.rows),
            row.equal ? 'equal' : 'DIFFERENT',
          ]),
        ),
      ),
    );
    say('\n   per-resource watermarks on B:\n');
    say(indent(watermarkTable(atEnd, headsA)));
    say(
      `\n${verified ? 'verified' : 'NOT VERIFIED'}: ${formatCount(totalRows)} rows in ${syncSeconds.toFixed(1)} s ` +
        `(${formatCount(throughput)} rows/s), ${formatCount(resent)} rows sent twice across the cut, ` +
        `total ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    if (json) {
      printJson({
        libraryId,
        root,
        verified,
        totalRows,
        cutAfterEntries: entriesAtCut,
        syncSeconds,
        rowsPerSecond: throughput,
        resent,
        types: rows,
      });
    }
    return verified ? EXIT.OK : EXIT.DIFFERENT;
  } finally {
    await nodeB.close();
    await nodeA.stop();
    if (options.keep) say(`\nlibraries kept in ${root}`);
    else fs.rmSync(root, { recursive: true, force: true });
  }
}

type Heads = Awaited<ReturnType<typeof readResourceHeads>>;

const ENTRY = RESOURCE_NAMES.indexOf('entry');

/** B's watermarks and per-type counts at one moment. */
interface Standing {
  readonly marks: readonly ResourceWatermark[];
  /** B's heads, in `RESOURCE_NAMES` order. */
  readonly held: Heads;
}

async function standingOf(library: Library): Promise<Standing> {
  const marks = await readWatermarks(library);
  const held = await readResourceHeads(library);
  return { marks, held };
}

function watermarkOf(standing: Standing, name: ResourceName): number {
  return standing.marks.find((mark) => mark.resourceType === name)?.lastSeq ?? 0;
}

function itemsHeld(standing: Standing): number {
  return standing.held.reduce((sum, head) => sum + head.rowCount + head.tombstoneCount, 0);
}

function watermarkTable(standing: Standing, headsA: Heads): string {
  return formatTable(
    ['resource', 'watermark seq', 'A head seq', 'last applied (HLC)', 'rows on B', 'rows on A'],
    RESOURCE_NAMES.map((name, index) => {
      const mark = standing.marks.find((m) => m.resourceType === name);
      return [
        name,
        String(watermarkOf(standing, name)),
        String(headsA[index].seq),
        formatTime(mark?.lastHlc ? decodeHlc(mark.lastHlc).physicalMs : undefined),
        formatCount(standing.held[index].rowCount),
        formatCount(headsA[index].rowCount),
      ];
    }),
  );
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `   ${line}`)
    .join('\n');
}
