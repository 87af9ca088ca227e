import { TidemarkError } from '@tidemark/engine';
import { runNodeProcess } from '@tidemark/node';
import { Command } from 'commander';
import { LocationWatcher } from '../indexer/location-watcher';
import {
  atLeastOne,
  collect,
  hostPort,
  isHubLibrary,
  libraryFile,
  libraryOwnPaths,
  positiveInt,
  refuseHub,
} from '../options';

export function registerNode(program: Command): void {
  program
    .command('node')
    .description('run the sync daemon: serve the library over gRPC and pull from peers, live')
    .requiredOption('--library <dir>', 'library directory')
    .requiredOption('--listen <host:port>', 'address to serve on (port 0 picks a free port)', hostPort)
    .option('--peer <host:port>', 'a peer to pull from (repeatable)', collect, [])
    .option('--metrics <host:port>', 'serve Prometheus metrics on http://HOST:PORT/metrics', hostPort)
    .option(
      '--batch-size <n>',
      'rows per batch requested from peers (0 = server default)',
      positiveInt('--batch-size'),
      0,
    )
    .option(
      '--anti-entropy-interval <seconds>',
      "compare every type's digest with each peer this often, after its backfill (default 600)",
      atLeastOne('--anti-entropy-interval'),
    )
    .option(
      '--no-origin-filter',
      'ask peers for every row, also rows this node already holds (by default peers leave them out)',
    )
    .option(
      '--relay-hold-ms <ms>',
      'serve peers the rows this node took from other devices only once they are this old, so a peer that took them directly leaves them out (default 1000; 0 = at once)',
      positiveInt('--relay-hold-ms'),
    )
    .option(
      '--watch',
      "keep this device's indexed locations current from file-system events (rescanned at start and when events are lost)",
    )
    .option(
      '--watch-full-rescan <minutes>',
      'with --watch, how often each location is also rescanned whole, whatever the events said (default 60)',
      positiveInt('--watch-full-rescan'),
    )
    .option(
      '--fallback-poll-ms <ms>',
      'how often to look for commits of other processes on file systems that send no notification (default 2000)',
      positiveInt('--fallback-poll-ms'),
    )
    .option(
      '--database-connections <n>',
      'a hub library: pooled PostgreSQL connections of this process (default 10; one more for LISTEN while anyone follows)',
      positiveInt('--database-connections'),
    )
    .option(
      '--insecure',
      'plaintext gRPC, no authentication or authorization (loopback addresses only; default: mutual TLS)',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ tidemark node --library ~/tidemark/desktop --listen 0.0.0.0:7401 --peer 192.168.1.20:7400
  $ tidemark node --library ~/tidemark/desktop --listen 127.0.0.1:7401 --peer 127.0.0.1:7400 --insecure

With --watch, every location \`tidemark index\` has indexed on this device is re-indexed whole at
start (catching what changed while the node was down), when the watcher reports lost events, and
every --watch-full-rescan minutes. After each burst of file-system events only the directories the
events name are rescanned, so followers see a change within about a second. A file or directory
renamed or moved within a location, or from one watched location to another, keeps its entry
(matched by device, inode and birth time).

Without --insecure every connection is mutual TLS: this node serves only devices paired with
\`tidemark invite\` / \`tidemark join\`, and dials only peers presenting a member's certificate.

Stops gracefully on SIGTERM or SIGINT (the batch in flight finishes or rolls back).`,
    )
    .action(
      async (options: {
        library: string;
        listen: string;
        peer: string[];
        metrics?: string;
        batchSize: number;
        originFilter: boolean;
        relayHoldMs?: number;
        antiEntropyInterval?: number;
        fallbackPollMs?: number;
        databaseConnections?: number;
        insecure?: boolean;
        watch?: boolean;
        watchFullRescan?: number;
      }) => {
        if (options.watch) refuseHub(options.library, 'watch folders (--watch)');
        if (options.databaseConnections !== undefined && !isHubLibrary(options.library)) {
          throw new TidemarkError(
            'INVALID_ARGUMENT',
            '--database-connections is for a hub library (made with `tidemark init --database`); this one is SQLite',
          );
        }
        const exclude = libraryOwnPaths(options.library);
        await runNodeProcess(
          {
            libraryFile: libraryFile(options.library),
            listen: options.listen,
            peers: options.peer,
            metrics: options.metrics,
            batchSize: options.batchSize,
            originFilter: options.originFilter,
            relayHoldMs: options.relayHoldMs,
            ...(options.antiEntropyInterval
              ? { antiEntropy: { intervalMs: options.antiEntropyInterval * 1000 } }
              : {}),
            fallbackPollMs: options.fallbackPollMs,
            databaseConnections: options.databaseConnections,
            // resolveConfig refuses --insecure on anything but loopback addresses.
            insecure: options.insecure === true,
          },
          options.watch
            ? (node, logger) =>
                LocationWatcher.start(node.library, logger.child({ component: 'watch' }), {
                  exclude,
                  ...(options.watchFullRescan ? { fullRescanMs: options.watchFullRescan * 60_000 } : {}),
                })
            : undefined,
        );
      },
    );
}
