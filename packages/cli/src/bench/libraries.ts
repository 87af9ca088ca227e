import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Library } from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';

export interface SourceLibrary {
  readonly dir: string;
  readonly file: string;
  readonly libraryId: string;
  /** Synced rows a backfill moves: the device, volumes, locations and entries. */
  readonly rows: number;
  readonly entries: number;
  /** True when copied from the cache instead of generated. */
  readonly cached: boolean;
  readonly generateSeconds?: number;
}

const CACHE = path.join(os.tmpdir(), 'tidemark-bench-cache');
/** Raised whenever the generated library changes, so an older cached one is never measured. */
const LAYOUT_VERSION = 2;

function copyDir(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const name of fs.readdirSync(from)) fs.copyFileSync(path.join(from, name), path.join(to, name));
}

/**
 * A's library: generated through the engine's write path (5 volumes, 100 locations, N entries,
 * 10,000 entries per transaction, like an indexing run), cached per size so repeated runs skip
 * the generation, which is not what the bench measures.
 */
export async function prepareSource(
  workDir: string,
  label: string,
  shape: { volumes: number; locations: number; entries: number },
  fresh: boolean,
): Promise<SourceLibrary> {
  const cached = path.join(
    CACHE,
    `a-v${LAYOUT_VERSION}-${shape.volumes}-${shape.locations}-${shape.entries}`,
  );
  const dir = path.join(workDir, label);
  let generateSeconds: number | undefined;
  const fromCache = !fresh && fs.existsSync(Library.fileIn(cached));
  if (!fromCache) {
    fs.rmSync(cached, { recursive: true, force: true });
    const started = performance.now();
    const library = await Library.create(Library.fileIn(cached), { deviceName: 'bench-a' });
    let reported = 0;
    await writeSyntheticLibrary(library, {
      ...shape,
      onProgress: (type, written, total) => {
        if (type === 'entry' && (written - reported >= 100_000 || written === total)) {
          reported = written;
          process.stderr.write(`  generating A (${shape.entries} entries): ${written}/${total}\r`);
        }
      },
    });
    await library.close();
    process.stderr.write('\n');
    generateSeconds = (performance.now() - started) / 1000;
  }
  copyDir(cached, dir);
  const library = await Library.open(Library.fileIn(dir));
  const libraryId = library.identity.libraryId;
  await library.close();
  return {
    dir,
    file: Library.fileIn(dir),
    libraryId,
    rows: 1 + shape.volumes + shape.locations + shape.entries,
    entries: shape.entries,
    cached: fromCache,
    generateSeconds,
  };
}

/** An empty member of the same library, ready to backfill. */
export async function createMember(dir: string, libraryId: string, name: string): Promise<string> {
  const library = await Library.create(Library.fileIn(dir), { libraryId, deviceName: name });
  await library.close();
  return dir;
}
