/**
 * @tidemark/engine/testing: what tests, benchmarks and the demo need beside the public API.
 * Kept out of the main entry point so that a library user never mistakes synthetic data or an
 * in-process transport for part of the sync engine.
 */
export { sampleRecords, sqliteVersion, storeVersion } from './bench-reads';
export { InMemoryTransport, type InMemoryTransportOptions } from './in-memory-transport';
export { heldPrefixes, type HeldClaim } from './held-prefixes';
export { forgetRows, rewriteRowInPlace } from './raw-rows';
export { writeSyntheticLibrary, type SyntheticLibraryOptions } from './synthetic';
export { freshTestDatabaseUrl, TEST_PG_URL_VARIABLE, testPostgresUrl } from './test-database';
export { measureCommitIdUnitCost, type CommitIdUnitCost } from './commit-id-unit-cost';
