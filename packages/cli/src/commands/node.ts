import { runNodeProcess } from '@tidemark/node';
import { Command } from 'commander';
import { collect, hostPort, libraryFile, positiveInt, requireInsecure } from '../options';

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
    .option('--insecure', 'plaintext gRPC (required until TLS is available)')
    .addHelpText(
      'after',
      `
Example:
  $ tidemark node --library ~/tidemark/desktop --listen 127.0.0.1:7401 --peer 127.0.0.1:7400 --insecure

Stops gracefully on SIGTERM or SIGINT (the batch in flight finishes or rolls back).`,
    )
    .action(
      async (options: {
        library: string;
        listen: string;
        peer: string[];
        metrics?: string;
        batchSize: number;
        insecure?: boolean;
      }) => {
        requireInsecure(options.insecure);
        await runNodeProcess({
          libraryFile: libraryFile(options.library),
          listen: options.listen,
          peers: options.peer,
          metrics: options.metrics,
          batchSize: options.batchSize,
          insecure: true,
        });
      },
    );
}
