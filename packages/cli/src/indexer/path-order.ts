/** Byte order of UTF-8 paths: the engine's, so the walk and the store's reads agree by construction. */
export { compareUtf8 } from '@tidemark/engine';

/**
 * The first path after everything under the directory `relativePath`: "d0" for "d", since '0'
 * is the byte after '/'. The subtree of "d" is the range from "d/" (inclusive) to this.
 */
export function subtreeEnd(relativePath: string): string {
  return `${relativePath}0`;
}
