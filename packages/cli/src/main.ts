import { TidemarkError } from '@tidemark/engine';
import { Command, CommanderError } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { registerCollection } from './commands/collection';
import { registerCompletion } from './commands/completion';
import { registerDemo } from './commands/demo';
import { registerDoctor } from './commands/doctor';
import { registerGenerate } from './commands/generate';
import { registerIndex } from './commands/index-command';
import { registerInit } from './commands/init';
import { registerInvite } from './commands/invite';
import { registerJoin } from './commands/join';
import { registerNode } from './commands/node';
import { registerPeer } from './commands/peer';
import { registerRepair } from './commands/repair';
import { registerStatus } from './commands/status';
import { registerSync } from './commands/sync';
import { registerTag } from './commands/tag';
import { registerVerify } from './commands/verify';
import { EXIT, exitCodeFor } from './exit-codes';

/** The version from package.json, read at run time so the build does not copy the manifest. */
function packageVersion(): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

export function buildProgram(): Command {
  const program = new Command()
    .name('tidemark')
    .description('Keep a library in sync across devices, peer to peer over gRPC.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    // A command's options belong to it, not to its subcommands (`invite` vs `invite list`).
    .enablePositionalOptions()
    .exitOverride()
    // Every command's --library: an empty one resolved to the working directory (init made
    // ./library.db there).
    .hook('preAction', (_, action) => {
      if (action.opts().library === '') {
        throw new TidemarkError('INVALID_ARGUMENT', "--library is empty; give the library's directory");
      }
    });
  registerInit(program);
  registerGenerate(program);
  registerIndex(program);
  registerTag(program);
  registerCollection(program);
  registerInvite(program);
  registerJoin(program);
  registerPeer(program);
  registerNode(program);
  registerSync(program);
  registerStatus(program);
  registerVerify(program);
  registerDoctor(program);
  registerRepair(program);
  registerDemo(program);
  registerCompletion(program);
  program.addHelpText(
    'after',
    `
Exit codes: 0 ok, 1 different/problem found, 2 usage, 3 not found (library, folder, tag...)
or already exists, 4 peer unavailable or not a Tidemark node, 5 denied, 6 data rejected,
70 internal error.`,
  );
  return program;
}

/**
 * `tidemark status | head` closes the pipe before the output ends: like other Unix tools, stop
 * quietly instead of crashing with an unhandled EPIPE stack trace.
 */
function exitQuietlyWhenStdoutCloses(): void {
  if (process.stdout.listenerCount('error') > 0) return;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT.OK);
    throw error;
  });
}

/** Runs the CLI and resolves with the exit code; errors become one line on stderr. */
export async function main(argv: readonly string[]): Promise<number> {
  exitQuietlyWhenStdoutCloses();
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed its message (or the help/version output).
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const message = error instanceof Error ? error.message : String(error);
    // One line, whatever a library put in the message (OpenSSL's end in a newline).
    process.stderr.write(`tidemark: ${message.replace(/\s*\n\s*/g, ' ').trim()}\n`);
    if (!(error instanceof TidemarkError) && process.env.TIDEMARK_DEBUG) console.error(error);
    return exitCodeFor(error);
  }
}
