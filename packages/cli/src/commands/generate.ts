import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import { Command } from 'commander';
import { positiveInt } from '../options';
import { formatCount, printJson } from '../output';
import { createProgressReporter } from '../progress';
import { withLibrary } from '../with-library';

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description(
      'write synthetic volumes, locations and entries through the write path, like an indexing run',
    )
    .requiredOption('--library <dir>', 'library directory')
    .requiredOption('--volumes <n>', 'volumes to create', positiveInt('--volumes'))
    .requiredOption('--locations <n>', 'locations to create', positiveInt('--locations'))
    .requiredOption('--entries <n>', 'entries to create', positiveInt('--entries'))
    .option('--seed <s>', 'seed for ids and sizes (same seed, same data)', positiveInt('--seed'), 1)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ tidemark generate --library ~/tidemark/laptop --volumes 5 --locations 100 --entries 30000',
    )
    .action(
      async (options: {
        library: string;
        volumes: number;
        locations: number;
        entries: number;
        seed: number;
        json?: boolean;
      }) => {
        const progress = createProgressReporter({ json: !!options.json, tty: !!process.stderr.isTTY });
        const started = Date.now();
        await withLibrary(options.library, (library) =>
          writeSyntheticLibrary(library, {
            ...options,
            onProgress: (type, done, total) => progress.onRows(type, done, total),
          }),
        );
        progress.stop();
        const seconds = (Date.now() - started) / 1000;
        const rows = options.volumes + options.locations + options.entries;
        if (options.json)
          printJson({
            volumes: options.volumes,
            locations: options.locations,
            entries: options.entries,
            seconds,
          });
        else process.stdout.write(`wrote ${formatCount(rows)} rows in ${seconds.toFixed(1)} s\n`);
      },
    );
}
