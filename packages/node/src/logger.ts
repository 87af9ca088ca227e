import { TidemarkError } from '@tidemark/engine';
import pino, { Logger } from 'pino';
import PinoPretty from 'pino-pretty';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** pino level name (trace, debug, info, warn, error, fatal, silent). Default info. */
  level?: string;
  /** Human-readable output; default: when stdout is a TTY. JSON lines otherwise. */
  pretty?: boolean;
  /**
   * Append JSON lines to this file instead of writing to stdout, for a node embedded in a
   * program that owns the terminal (the demo draws progress bars there).
   */
  file?: string;
}

/**
 * JSON lines on stdout for machines (log shippers, the CLI reading the "listening" line), and
 * pino-pretty for a person at a terminal. Writes are synchronous so that nothing logged during
 * shutdown is lost when the process exits right after.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  if (level !== 'silent' && !(level in pino.levels.values)) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `unknown log level "${level}"; expected one of ${[...Object.keys(pino.levels.values), 'silent'].join(', ')}`,
    );
  }
  return pino({ level, timestamp: pino.stdTimeFunctions.isoTime }, destinationOf(options));
}

function destinationOf(options: LoggerOptions) {
  if (options.file !== undefined) return pino.destination({ dest: options.file, sync: true, append: true });
  if (options.pretty ?? process.stdout.isTTY === true) {
    return PinoPretty({
      colorize: true,
      sync: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
    });
  }
  return pino.destination({ dest: 1, sync: true });
}
