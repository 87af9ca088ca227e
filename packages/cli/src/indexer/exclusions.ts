/**
 * The paths to leave out (absolute, real) that lie inside the location at `root`. Only those:
 * the library's directory is left out of a location that holds it, but a location that is that
 * directory, or lies inside it (`tidemark index --library ~ ~/Photos`), is still indexed and
 * watched (an ancestor given to the watcher's `ignore` silenced every event), less the library's
 * own files.
 */
export function exclusionsUnder(root: string, exclude: readonly string[] = []): string[] {
  const prefix = root === '/' ? '/' : `${root}/`;
  return exclude.filter((path) => path.startsWith(prefix));
}
