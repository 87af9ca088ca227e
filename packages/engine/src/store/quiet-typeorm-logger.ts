import type { Logger } from 'typeorm';

const nothing = (): void => undefined;

/**
 * TypeORM's own logger prints migration messages to stdout whatever `logging` says: an open
 * whose migration failed printed a line before a `--json` command's output (the error itself is
 * thrown, and reported by whoever opened the library).
 */
export const QUIET_TYPEORM_LOGGER: Logger = {
  logQuery: nothing,
  logQueryError: nothing,
  logQuerySlow: nothing,
  logSchemaBuild: nothing,
  logMigration: nothing,
  log: nothing,
};
