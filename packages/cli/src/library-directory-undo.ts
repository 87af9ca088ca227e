import { DATABASE_LOCATOR_FILE, LIBRARY_FILE } from '@tidemark/engine';
import { DEVICE_CERT_FILE, DEVICE_KEY_FILE } from '@tidemark/node';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { libraryExistsIn } from './options';

/** Files a new library puts in its directory: the database and its companions, the key, the locator. */
function isLibraryFile(name: string): boolean {
  return (
    name === LIBRARY_FILE ||
    // library.db-wal, -shm, -journal, library.db.history
    name.startsWith(`${LIBRARY_FILE}-`) ||
    name.startsWith(`${LIBRARY_FILE}.`) ||
    name === DEVICE_KEY_FILE ||
    name === DEVICE_CERT_FILE ||
    name === DATABASE_LOCATOR_FILE
  );
}

/**
 * Records DIR before a command that may create a library in it (join), and returns what puts DIR
 * back as it was: the library files that were not there, then the directories the command made,
 * from DIR up to the first one that existed, each only if empty. A library that was in DIR before
 * is never touched: then the returned function does nothing.
 */
export function recordLibraryDirectory(dir: string): () => void {
  const resolved = path.resolve(dir);
  if (libraryExistsIn(resolved)) return () => undefined;
  let existingAncestor = resolved;
  while (!fs.existsSync(existingAncestor) && path.dirname(existingAncestor) !== existingAncestor) {
    existingAncestor = path.dirname(existingAncestor);
  }
  const before = new Set(existingAncestor === resolved ? fs.readdirSync(resolved) : []);
  return () => {
    if (fs.existsSync(resolved)) {
      for (const name of fs.readdirSync(resolved)) {
        if (!before.has(name) && isLibraryFile(name)) fs.rmSync(path.join(resolved, name), { force: true });
      }
    }
    for (let made = resolved; made !== existingAncestor; made = path.dirname(made)) {
      try {
        fs.rmdirSync(made);
      } catch {
        // Not empty (something else was put there meanwhile), or already gone: leave it.
        if (fs.existsSync(made)) return;
      }
    }
  };
}
