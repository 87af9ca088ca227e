import { hasControlCharacter, TidemarkError } from '@tidemark/engine';
import { EntryKind } from '@tidemark/proto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A file, directory or symlink found by the walk. */
export interface WalkedEntry {
  readonly type: 'entry';
  /** "/"-separated, relative to the root, no leading "/". */
  readonly relativePath: string;
  readonly absolutePath: string;
  readonly kind: EntryKind;
  readonly sizeBytes: number;
  readonly modifiedAtMs: number;
}

/** Something the walk met but cannot index: `unreadable` failed, `special` is a FIFO, socket or device. */
export interface WalkProblem {
  readonly type: 'unreadable' | 'special';
  readonly relativePath: string;
  readonly absolutePath: string;
  readonly reason: string;
  /** The object may be a directory whose contents were not walked. */
  readonly subtree: boolean;
}

export type WalkItem = WalkedEntry | WalkProblem;

export interface WalkOptions {
  /** Absolute paths left out with everything under them (the library's own directory). */
  readonly exclude?: ReadonlySet<string>;
}

/** relative_path is a proto string of at most 4096 bytes. */
const MAX_RELATIVE_PATH_BYTES = 4096;
/** Directory entries lstat'ed concurrently. */
const STAT_CHUNK = 64;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Names are read as latin1, which maps each byte to one character, so the exact bytes can be
 * recovered and checked: a name that is not UTF-8 cannot be stored in a proto string, and
 * decoding it lossily would yield a path that does not exist.
 */
function decodeName(raw: string): string | undefined {
  try {
    return utf8.decode(Buffer.from(raw, 'latin1'));
  } catch {
    return undefined;
  }
}

export function describeError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  return code ? `${code}: ${message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')}` : message;
}

function specialKind(stats: fs.Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'not a file, directory or symlink';
}

class Walker {
  private readonly directories: string[] = [''];

  constructor(
    private readonly root: string,
    private readonly exclude: ReadonlySet<string>,
  ) {}

  async *walk(): AsyncGenerator<WalkItem> {
    // Depth-first with one directory open at a time: memory grows with the number of pending
    // directories, never with the number of files.
    for (let relative = this.directories.pop(); relative !== undefined; relative = this.directories.pop()) {
      const absolute = relative ? path.join(this.root, relative) : this.root;
      let names: string[] = [];
      try {
        const dir = await fs.promises.opendir(absolute, { encoding: 'latin1', bufferSize: STAT_CHUNK });
        for await (const dirent of dir) {
          names.push(dirent.name);
          if (names.length >= STAT_CHUNK) {
            yield* this.examine(relative, names);
            names = [];
          }
        }
      } catch (error) {
        if (!relative)
          throw new TidemarkError('INVALID_ARGUMENT', `cannot read ${absolute}: ${describeError(error)}`);
        yield {
          type: 'unreadable',
          relativePath: relative,
          absolutePath: absolute,
          reason: describeError(error),
          subtree: true,
        };
      }
      yield* this.examine(relative, names);
    }
  }

  private async *examine(parent: string, rawNames: readonly string[]): AsyncGenerator<WalkItem> {
    const candidates: { relativePath: string; absolutePath: string }[] = [];
    for (const raw of rawNames) {
      const name = decodeName(raw);
      const shown = name ?? Buffer.from(raw, 'latin1').toString('utf8');
      const relativePath = parent ? `${parent}/${name ?? shown}` : (name ?? shown);
      const absolutePath = path.join(this.root, relativePath);
      if (name === undefined) {
        yield {
          type: 'unreadable',
          relativePath,
          absolutePath,
          reason: 'name is not valid UTF-8',
          subtree: true,
        };
      } else if (hasControlCharacter(name)) {
        // Peers refuse paths with control characters (docs/security.md, "Limits").
        yield {
          type: 'unreadable',
          relativePath,
          absolutePath,
          reason: 'name contains a control character, which no peer accepts in a path',
          subtree: true,
        };
      } else if (Buffer.byteLength(relativePath) > MAX_RELATIVE_PATH_BYTES) {
        const reason = `relative path is longer than ${MAX_RELATIVE_PATH_BYTES} bytes`;
        yield { type: 'unreadable', relativePath, absolutePath, reason, subtree: true };
      } else if (!this.exclude.has(absolutePath)) {
        candidates.push({ relativePath, absolutePath });
      }
    }
    const stats = await Promise.allSettled(candidates.map((c) => fs.promises.lstat(c.absolutePath)));
    for (const [index, { relativePath, absolutePath }] of candidates.entries()) {
      const result = stats[index];
      if (result.status === 'rejected') {
        yield {
          type: 'unreadable',
          relativePath,
          absolutePath,
          reason: describeError(result.reason),
          subtree: true,
        };
        continue;
      }
      const stat = result.value;
      const kind = stat.isFile()
        ? EntryKind.ENTRY_KIND_FILE
        : stat.isDirectory()
          ? EntryKind.ENTRY_KIND_DIRECTORY
          : stat.isSymbolicLink()
            ? EntryKind.ENTRY_KIND_SYMLINK
            : undefined;
      if (kind === undefined) {
        yield { type: 'special', relativePath, absolutePath, reason: specialKind(stat), subtree: false };
        continue;
      }
      if (kind === EntryKind.ENTRY_KIND_DIRECTORY) this.directories.push(relativePath);
      yield {
        type: 'entry',
        relativePath,
        absolutePath,
        kind,
        // The proto: 0 for directories and symlinks; 0 is also "unknown" for a pre-1970 mtime.
        sizeBytes: kind === EntryKind.ENTRY_KIND_FILE ? stat.size : 0,
        modifiedAtMs: Math.max(0, Math.floor(stat.mtimeMs)),
      };
    }
  }
}

/** Walks the tree under `root` (a real path) without following symlinks. */
export function walkTree(root: string, options: WalkOptions = {}): AsyncGenerator<WalkItem> {
  return new Walker(root, options.exclude ?? new Set()).walk();
}

/**
 * Counts what the walk will yield, from directory listings alone (no stat per file), so that the
 * progress bar has a total. Errors are left to the walk to report.
 */
export async function countTree(root: string, options: WalkOptions = {}): Promise<number> {
  const exclude = options.exclude ?? new Set<string>();
  const pending = [root];
  let count = 0;
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    try {
      for await (const dirent of await fs.promises.opendir(dir, { encoding: 'latin1', bufferSize: 256 })) {
        const name = decodeName(dirent.name);
        if (name === undefined) continue;
        const absolute = path.join(dir, name);
        if (exclude.has(absolute)) continue;
        if (dirent.isDirectory()) pending.push(absolute);
        if (dirent.isDirectory() || dirent.isFile() || dirent.isSymbolicLink()) count++;
      }
    } catch {
      continue;
    }
  }
  return count;
}
