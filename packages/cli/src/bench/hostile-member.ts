/**
 * `node packages/cli/dist/bench/hostile-member.js [--seconds 60]`: how a node holds up against a
 * member that sends maximum-size batches as fast as it can (docs/security.md, "Limits").
 *
 * A real `tidemark node` process (B, --insecure on 127.0.0.1, default batch size) pulls from a
 * hostile peer H run here: H answers every StateRequest with batches of entries whose paths are
 * ~4,000 bytes, each batch as large as B's client accepts (the rows B asked for, at most 4,500:
 * just under 20 MiB), written as fast as HTTP/2 flow control lets them go, forever (never caught
 * up). B asks again for fewer rows after such batches (engine `client.ts`, TARGET_BATCH_BYTES);
 * H then sends that many, each still as large as it may be.
 * The same 4,500 entry uuids are re-sent with newer stamps, so B really applies every batch
 * (last writer wins) without its database growing. Meanwhile a well-behaved client keeps calling
 * B's Handshake and StreamState (a tag backfill) every 250 ms: the report gives their worst
 * latency, B's peak RSS (VmHWM from /proc) and what B applied.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Library } from '@tidemark/engine';
import {
  EntryKind,
  HandshakeRequest,
  HandshakeResponse,
  ResourceType,
  StateBatch,
  StateRequest,
  SyncServiceClient,
  SyncServiceService,
} from '@tidemark/proto';
import { freePort } from '../free-port';
import { metricOf, NodeProcess, scrapeMetrics } from './node-process';

const MB = 1024 * 1024;
const ENTRIES_PER_BATCH = 4_500;
const PATH_BYTES = 4_000;

function parseSeconds(argv: readonly string[]): number {
  const at = argv.indexOf('--seconds');
  const seconds = at >= 0 ? Number(argv[at + 1]) : 60;
  if (!(seconds > 0)) throw new Error('--seconds must be a positive number');
  return seconds;
}

/** One maximum-size entry batch, encoded once per stamp. */
function entryBatch(
  hostile: string,
  epoch: string,
  uuids: readonly string[],
  seq: number,
  stamp: number,
): Buffer {
  const hlc = { physicalMs: stamp, logical: 0 };
  const location = '10000000-0000-4000-8000-000000000001';
  const batch = StateBatch.fromPartial({
    resourceType: ResourceType.RESOURCE_TYPE_ENTRY,
    records: uuids.map((uuid, index) => ({
      kind: {
        $case: 'entry' as const,
        value: {
          uuid,
          deviceUuid: hostile,
          locationUuid: location,
          parentUuid: '',
          relativePath: `${String(index).padStart(6, '0')}/${'p'.repeat(PATH_BYTES)}`,
          kind: EntryKind.ENTRY_KIND_FILE,
          sizeBytes: index,
          modifiedAtMs: stamp,
          contentUuid: '',
          hlc,
          origin: hostile,
        },
      },
    })),
    checkpoint: { resourceType: ResourceType.RESOURCE_TYPE_ENTRY, epoch, seq, hlc },
    remaining: 1_000_000,
  });
  return Buffer.from(StateBatch.encode(batch).finish());
}

function caughtUp(type: ResourceType, epoch: string): Buffer {
  return Buffer.from(
    StateBatch.encode(
      StateBatch.fromPartial({
        resourceType: type,
        checkpoint: { resourceType: type, epoch, seq: 0 },
        caughtUp: true,
      }),
    ).finish(),
  );
}

interface HostileStats {
  batches: number;
  bytes: number;
  /** Entry streams B opened (it asks again, for fewer rows, after batches that are too large). */
  entryStreams: number;
  /** The fewest rows per batch B asked for. */
  fewestRowsAsked: number;
}

async function startHostile(
  libraryId: string,
  stats: HostileStats,
): Promise<{ address: string; stop(): void }> {
  const hostile = randomUUID().replace(/^(.{14})./, '$18');
  const epoch = randomUUID();
  const uuids = Array.from({ length: ENTRIES_PER_BATCH }, () => randomUUID());
  const server = new grpc.Server({ 'grpc.max_send_message_length': -1 });
  let stopped = false;
  server.addService(
    {
      handshake: SyncServiceService.handshake,
      streamState: { ...SyncServiceService.streamState, responseSerialize: (bytes: Buffer) => bytes },
    } as unknown as grpc.ServiceDefinition,
    {
      handshake: (
        _call: grpc.ServerUnaryCall<HandshakeRequest, HandshakeResponse>,
        callback: grpc.sendUnaryData<HandshakeResponse>,
      ) =>
        callback(
          null,
          HandshakeResponse.fromPartial({
            libraryId,
            deviceId: hostile,
            epoch,
            protocolVersion: 1,
            // The most it may claim: B then allows the most bytes per message.
            defaultBatchSize: 10_000,
            maxBatchSize: 10_000,
            serverTimeMs: Date.now(),
          }),
        ),
      streamState: (call: grpc.ServerWritableStream<StateRequest, Buffer>) => {
        const types = call.request.cursors.map((cursor) => cursor.resourceType);
        let seq = 0;
        const pump = () => {
          for (const type of types) {
            if (type !== ResourceType.RESOURCE_TYPE_ENTRY) call.write(caughtUp(type, epoch));
          }
          if (!types.includes(ResourceType.RESOURCE_TYPE_ENTRY)) {
            if (!call.request.follow) call.end();
            return;
          }
          // As many rows as B asked for (its limits follow them), each as large as it accepts.
          const rows = Math.min(ENTRIES_PER_BATCH, call.request.batchSize || 10_000);
          stats.entryStreams += 1;
          stats.fewestRowsAsked = Math.min(stats.fewestRowsAsked, rows);
          const next = () => {
            while (!stopped && !call.cancelled) {
              seq += 1;
              const bytes = entryBatch(hostile, epoch, uuids.slice(0, rows), seq, Date.now());
              stats.batches += 1;
              stats.bytes += bytes.length;
              if (!call.write(bytes)) {
                call.once('drain', next);
                return;
              }
            }
          };
          next();
        };
        call.on('error', () => undefined);
        pump();
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    stop: () => {
      stopped = true;
      server.forceShutdown();
    },
  };
}

/** A well-behaved client of B: a handshake and a short tag backfill, timed. */
async function probe(client: SyncServiceClient, libraryId: string): Promise<number> {
  const started = performance.now();
  await new Promise((resolve, reject) =>
    client.handshake(
      HandshakeRequest.fromPartial({ libraryId, protocolVersion: 1 }),
      new grpc.Metadata(),
      { deadline: Date.now() + 30_000 },
      (error, response) => (error ? reject(error) : resolve(response)),
    ),
  );
  await new Promise<void>((resolve, reject) => {
    const stream = client.streamState(
      StateRequest.fromPartial({
        libraryId,
        cursors: [{ resourceType: ResourceType.RESOURCE_TYPE_TAG, epoch: '', seq: 0 }],
      }),
      new grpc.Metadata(),
      { deadline: Date.now() + 30_000 },
    );
    stream.on('data', () => undefined);
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  return performance.now() - started;
}

async function main(): Promise<void> {
  const seconds = parseSeconds(process.argv.slice(2));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-hostile-'));
  const file = Library.fileIn(dir);
  const library = await Library.create(file, { name: 'receiver' });
  const { libraryId } = library.identity;
  await library.write((tx) => tx.put('tag', { uuid: randomUUID(), name: 'served to others', color: '' }));
  await library.close();

  const stats: HostileStats = { batches: 0, bytes: 0, entryStreams: 0, fewestRowsAsked: Infinity };
  const hostile = await startHostile(libraryId, stats);
  const port = await freePort();
  const metricsPort = await freePort();
  const b = await NodeProcess.start('B', {
    library: dir,
    port,
    peer: hostile.address,
    metricsPort,
    batchSize: 0,
  });
  const client = new SyncServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const latencies: number[] = [];
  let probeFailures = 0;
  const rss: number[] = [];
  let heapPeak = 0;
  let heapUsedPeak = 0;
  let externalPeak = 0;
  const deadline = Date.now() + seconds * 1000;
  try {
    while (Date.now() < deadline) {
      try {
        latencies.push(await probe(client, libraryId));
      } catch (error) {
        probeFailures += 1;
        process.stderr.write(`probe failed: ${(error as Error).message}\n`);
      }
      const metrics = await scrapeMetrics(metricsPort).catch(() => '');
      if (metrics) {
        heapPeak = Math.max(heapPeak, metricOf(metrics, 'nodejs_heap_size_total_bytes'));
        heapUsedPeak = Math.max(heapUsedPeak, metricOf(metrics, 'nodejs_heap_size_used_bytes'));
        externalPeak = Math.max(externalPeak, metricOf(metrics, 'nodejs_external_memory_bytes'));
      }
      const status = fs.readFileSync(`/proc/${b.pid}/status`, 'utf8');
      rss.push(Number(/^VmRSS:\s+(\d+)/m.exec(status)![1]) * 1024);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const page = await scrapeMetrics(metricsPort);
    const applied = metricOf(page, 'tidemark_rows_received_total', { resource_type: 'entry' });
    const peak = b.peakRssBytes();
    latencies.sort((x, y) => x - y);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
    const report = {
      seconds,
      hostileBatchesWritten: stats.batches,
      hostileMbWritten: Math.round(stats.bytes / MB),
      meanBatchMb: stats.batches ? +(stats.bytes / stats.batches / MB).toFixed(2) : 0,
      entryStreamsOpenedByB: stats.entryStreams,
      fewestRowsAskedByB: stats.fewestRowsAsked,
      entryRowsReceivedByB: applied,
      peakRssMb: +(peak / MB).toFixed(1),
      heapTotalPeakMb: +(heapPeak / MB).toFixed(1),
      heapUsedPeakMb: +(heapUsedPeak / MB).toFixed(1),
      externalPeakMb: +(externalPeak / MB).toFixed(1),
      medianRssMb: +(rss.sort((x, y) => x - y)[Math.floor(rss.length / 2)] / MB).toFixed(1),
      probes: latencies.length,
      probeFailures,
      probeMsP50: Math.round(at(0.5)),
      probeMsP99: Math.round(at(0.99)),
      probeMsMax: Math.round(latencies[latencies.length - 1] ?? 0),
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } finally {
    client.close();
    await b.stop();
    hostile.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  for (const node of NodeProcess.started) void node.stop('SIGKILL');
  process.exitCode = 1;
});
