import * as sqlite3 from 'sqlite3';
import { TidemarkError } from '../errors';

export interface LibraryFileShape {
  /** The file has the legacy global-watermark schema (`devices.last_state_watermark`) and is not migrated yet. */
  readonly legacyUnmigrated: boolean;
  /** Tidemark schema with an identity row. */
  readonly tidemark: boolean;
}

/**
 * Looks at a library file read-only, without running migrations: `doctor` must be able to say
 * "this is an unmigrated legacy library" before anything changes it.
 */
export function inspectLibraryFile(file: string): Promise<LibraryFileShape> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (openError) => {
      if (openError) {
        reject(new TidemarkError('NOT_FOUND', `cannot read ${file}: ${openError.message}`));
        return;
      }
      db.all(
        "SELECT m.name AS tbl, p.name AS col FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'",
        (error, rows: { tbl: string; col: string }[]) => {
          db.close();
          if (error) {
            reject(
              new TidemarkError('STORAGE', `${file} is not a readable SQLite database: ${error.message}`),
            );
            return;
          }
          const has = (table: string, column: string) =>
            rows.some((r) => r.tbl === table && r.col === column);
          resolve({
            legacyUnmigrated: has('devices', 'last_state_watermark'),
            tidemark: has('library_identity', 'epoch'),
          });
        },
      );
    });
  });
}
