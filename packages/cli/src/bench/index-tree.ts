import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Raised whenever the generated tree changes, so an older cached one is never measured. */
const TREE_LAYOUT_VERSION = 1;
const CACHE = path.join(os.tmpdir(), 'tidemark-bench-trees');

export interface GeneratedTree {
  readonly root: string;
  readonly files: number;
  readonly directories: number;
  readonly cached: boolean;
  readonly generateSeconds?: number;
}

/** The content of file `i`: 64 B to 8 KiB, distinct per file, so every file is its own content. */
export function fileContent(i: number, salt = ''): string {
  const line = `tidemark bench file ${i}${salt}\n`;
  return line.repeat(1 + ((i * 2654435761) % 2_000) / line.length);
}

/** Leaf directory of file `i`: files are dealt round-robin over the leaves. */
export function leafOf(i: number, leaves: number, top: number): string {
  const leaf = i % leaves;
  return path.join(`d${String(leaf % top).padStart(3, '0')}`, `e${String(leaf).padStart(6, '0')}`);
}

function shapeOf(directories: number): { top: number; leaves: number } {
  // About sqrt(directories) top-level directories, each holding its share of the leaves.
  const top = Math.max(1, Math.round(Math.sqrt(directories) / 7));
  return { top, leaves: Math.max(1, directories - top) };
}

/**
 * A tree of `files` files in `directories` directories (two levels), cached under the temp dir
 * per shape: making a million files takes minutes, and is not what the bench measures. A marker
 * written last means a tree cut short by a crash is regenerated, not measured.
 */
export function prepareTree(files: number, directories: number): GeneratedTree {
  const root = path.join(CACHE, `v${TREE_LAYOUT_VERSION}-${files}-${directories}`);
  const marker = path.join(CACHE, `v${TREE_LAYOUT_VERSION}-${files}-${directories}.complete`);
  if (fs.existsSync(marker)) return { root, files, directories, cached: true };
  const started = performance.now();
  fs.rmSync(root, { recursive: true, force: true });
  const { top, leaves } = shapeOf(directories);
  for (let t = 0; t < top; t++)
    fs.mkdirSync(path.join(root, `d${String(t).padStart(3, '0')}`), { recursive: true });
  for (let leaf = 0; leaf < leaves; leaf++) fs.mkdirSync(path.join(root, leafOf(leaf, leaves, top)));
  for (let i = 0; i < files; i++) {
    fs.writeFileSync(path.join(root, leafOf(i, leaves, top), `f${i}.txt`), fileContent(i));
  }
  fs.writeFileSync(marker, `${files} files, ${top + leaves} directories\n`);
  return { root, files, directories, cached: false, generateSeconds: (performance.now() - started) / 1000 };
}

/** The path of file `i` of a tree made by prepareTree, relative to its root. */
export function treeFilePath(i: number, directories: number): string {
  const { top, leaves } = shapeOf(directories);
  return path.join(leafOf(i, leaves, top), `f${i}.txt`);
}
