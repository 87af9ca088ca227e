import { Library } from '../library';
import { SqlRunner } from '../store/library-database';
import type { WriteTransaction } from '../write-path';

/**
 * What a read function reads from: a library (its committed state, on the reader connection,
 * never blocked by a writer) or a write transaction in progress (its state so far, the
 * transaction's own writes included). Reading inside the transaction is how a check and the
 * write it guards stay atomic: "is this name free" cannot change before the put commits.
 */
export type ReadScope = Library | WriteTransaction;

/**
 * The connection a read of `scope` runs on. A transaction's buffered writes are flushed first,
 * so that a read never misses a put made earlier in the same transaction.
 * @internal
 */
export async function runnerOf(scope: ReadScope): Promise<SqlRunner> {
  if (scope instanceof Library) return scope.db.read;
  await scope.flush();
  return scope.sql;
}
