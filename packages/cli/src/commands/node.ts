import { runNodeProcess } from '@tidemark/node';
import { Command } from 'commander';
import { collect, hostPort, libraryFile, positiveInt } from '../options';

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
      '--no-origin-filter',
      'ask peers for every row, also rows this node already holds (by default peers leave them out)',
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
        insecure?: boolean;
      }) => {
        await runNodeProcess({
          libraryFile: libraryFile(options.library),
          listen: options.listen,
          peers: options.peer,
          metrics: options.metrics,
          batchSize: options.batchSize,
          originFilter: options.originFilter,
          // resolveConfig refuses --insecure on anything but loopback addresses.
          insecure: options.insecure === true,
        });
      },
    );
}
