import * as path from 'node:path';

export interface MountEntry {
  /** The mount's id: unique among the mounts that exist, and a new one for each new mount. */
  readonly id: string;
  readonly mountPoint: string;
  readonly filesystem: string;
  /** What is mounted, e.g. "/dev/nvme0n1p2", "tmpfs", "overlay". */
  readonly source: string;
}

/** The kernel escapes space, tab, newline and backslash in mountinfo paths as octal. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Parses /proc/self/mountinfo (proc(5)): "id parent major:minor root mount-point options
 * [optional fields...] - fstype source super-options".
 */
export function parseMountInfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (fields.length < 7 || separator < 0) continue;
    mounts.push({
      id: fields[0],
      mountPoint: unescape(fields[4]),
      filesystem: fields[separator + 1] ?? '',
      source: unescape(fields[separator + 2] ?? ''),
    });
  }
  return mounts;
}

function contains(mountPoint: string, target: string): boolean {
  return target === mountPoint || mountPoint === path.sep || target.startsWith(mountPoint + path.sep);
}

/**
 * The mount holding `realPath`: the longest mount point that is a prefix of it. Later lines win
 * a tie, as a later mount on the same point hides the earlier one.
 */
export function findMount(mounts: readonly MountEntry[], realPath: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const mount of mounts) {
    if (
      contains(mount.mountPoint, realPath) &&
      (!best || mount.mountPoint.length >= best.mountPoint.length)
    ) {
      best = mount;
    }
  }
  return best;
}
