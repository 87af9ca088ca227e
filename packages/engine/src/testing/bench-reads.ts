import { Library } from '../library';
import { selectRecords } from '../reads/stored-records';
import { RecordOf, ResourceName } from '../resource-types';

/** Up to `count` records of a type picked at random: rows for a benchmark to change. */
export async function sampleRecords<N extends ResourceName>(
  library: Library,
  name: N,
  count: number,
): Promise<RecordOf[N][]> {
  return selectRecords(library.db.read, name, 'ORDER BY random() LIMIT ?', [count]);
}

/** The SQLite version the engine runs on (benchmark reports name it). */
export async function sqliteVersion(library: Library): Promise<string> {
  const [row] = await library.db.read.query<{ version: string }>('SELECT sqlite_version() AS version');
  return row.version;
}

/** The database the library runs on, with its version: `SQLite 3.x` or `PostgreSQL 15.x`. */
export async function storeVersion(library: Library): Promise<string> {
  if (library.store === 'sqlite') return `SQLite ${await sqliteVersion(library)}`;
  const [row] = await library.db.read.query<{ server_version: string }>('SHOW server_version');
  return `PostgreSQL ${row.server_version}`;
}
