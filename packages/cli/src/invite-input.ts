import { TidemarkError } from '@tidemark/engine';
import * as fs from 'node:fs';
import * as readline from 'node:readline';

/** Reads standard input to its end, or, from a terminal, the first line a person pastes. */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    process.stderr.write('paste the invite printed by `tidemark invite` and press Enter:\n');
    const lines = readline.createInterface({ input: process.stdin, terminal: false });
    try {
      for await (const line of lines) if (line.trim()) return line;
      return '';
    } finally {
      lines.close();
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The invite `join` redeems: the argument when one is given, else the file, else standard
 * input ("-" names standard input in either place). Text around it (a trailing newline, the
 * lines `tidemark invite` prints after it) is ignored: the invite is the first non-empty line.
 */
export async function readInviteText(
  argument: string | undefined,
  file: string | undefined,
): Promise<string> {
  if (argument !== undefined && argument !== '-' && file !== undefined) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      'give the invite either as an argument or with --invite-file, not both',
    );
  }
  let text: string;
  if (argument !== undefined && argument !== '-') text = argument;
  else if (file !== undefined && file !== '-') {
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new TidemarkError('INVALID_ARGUMENT', `cannot read the invite from ${file}: ${reason}`);
    }
  } else text = await readStdin();
  const invite = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .find((line) => line !== '');
  if (invite === undefined) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      'no invite given: pass it on standard input, with --invite-file FILE, or as an argument',
    );
  }
  return invite;
}
