import { randomBytes } from 'node:crypto';
import { TidemarkError } from '../errors';

/** The environment variable that names the PostgreSQL server tests may use (`.ci/run` sets it). */
export const TEST_PG_URL_VARIABLE = 'TIDEMARK_TEST_PG_URL';

/** The URL of the PostgreSQL server for tests, or undefined when none is configured. */
export function testPostgresUrl(): string | undefined {
  const url = process.env[TEST_PG_URL_VARIABLE];
  return url === undefined || url === '' ? undefined : url;
}

let made = 0;

/**
 * A hub URL no library uses yet: TIDEMARK_TEST_PG_URL with a fresh `schema`. Throws, naming
 * the variable, when it is not set: a test that needs PostgreSQL must never pass without it.
 */
export function freshTestDatabaseUrl(): string {
  const base = testPostgresUrl();
  if (base === undefined) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `${TEST_PG_URL_VARIABLE} is not set: PostgreSQL tests need a server ` +
        '(postgres://user@host:port/database, a role that may create schemas; .ci/run starts one)',
    );
  }
  const url = new URL(base);
  made += 1;
  url.searchParams.set('schema', `t_${process.pid}_${made}_${randomBytes(4).toString('hex')}`);
  return url.toString();
}
