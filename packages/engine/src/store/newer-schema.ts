import { MigrationInterface } from 'typeorm';
import { TidemarkError } from '../errors';

/**
 * Refuses a library that a newer Tidemark migrated: it holds migrations this code does not know,
 * and opened here it would be written without what they mean (a newer marker or column left
 * unset), with nothing to say so. Called before any migration runs, so the library is left as it
 * was. `applied`: the names in the store's `migrations` table.
 */
export function refuseNewerSchema(
  where: string,
  applied: readonly string[],
  known: readonly (new () => MigrationInterface)[],
): void {
  const names = new Set(known.map((migration) => new migration().name));
  const unknown = applied.filter((name) => !names.has(name));
  if (unknown.length > 0) {
    throw new TidemarkError(
      'FAILED_PRECONDITION',
      `${where} was upgraded by a newer version of Tidemark (schema migration ${unknown.join(', ')}); ` +
        'open it with that version or a later one',
    );
  }
}
