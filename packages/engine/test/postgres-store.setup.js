// jest.postgres.config.js: every test file runs on the PostgreSQL store, and fails at once,
// saying what to set, when no server is named (it never passes or skips without one).
process.env.TIDEMARK_TEST_STORE = 'postgres';
if (!process.env.TIDEMARK_TEST_PG_URL) {
  throw new Error(
    'TIDEMARK_TEST_PG_URL is not set: the PostgreSQL suite (jest.postgres.config.js) needs a server, ' +
      'e.g. TIDEMARK_TEST_PG_URL=postgres://user@127.0.0.1:5432/postgres (a role that may create schemas); ' +
      '.ci/run starts a throwaway one. The SQLite suite alone: npx jest',
  );
}
