import * as fs from 'node:fs';
import * as path from 'node:path';
import { findMount, MountEntry, parseMountInfo } from './mountinfo';
import { COARSE_TIMESTAMP_TICK_MS, FINE_TIMESTAMP_TICK_MS } from './timestamp-ticks';
import { stableUuid } from '@tidemark/engine';

export interface VolumeProbe {
  readonly mountPoint: string;
  readonly filesystem: string;
  readonly name: string;
  readonly capacityBytes: number;
  /** Filesystem UUID from /dev/disk/by-uuid, when the mount source is a disk that has one. */
  readonly filesystemUuid?: string;
}

/** statfs(2) magic numbers, for systems without /proc (the mount table names the type there). */
const FILESYSTEM_MAGIC: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x01021994, 'tmpfs'],
  [0x794c7630, 'overlay'],
  [0x6969, 'nfs'],
  [0x2fc12fc1, 'zfs'],
  [0x4d44, 'vfat'],
  [0x2011bab0, 'exfat'],
  [0x5346544e, 'ntfs'],
]);

/**
 * File systems whose inode numbers do not name a file for good: FAT and exFAT have no inodes, and
 * Linux numbers their files as they are looked up, anew at each mount (fusefat, the kernel's vfat,
 * msdos and exfat). The indexer ignores inodes there (as where the platform reports none): a file
 * is unchanged by size and mtime, and a rename is a delete and a create (the content identity,
 * and so its tags, kept). Trusting them would take a new file that got a deleted file's number,
 * size and mtime for that file renamed, and re-read every file after each mount. Mutable so that
 * a test can take one of them for a file system the indexer does not know.
 */
export const UNSTABLE_INODE_FILESYSTEMS = new Set(['vfat', 'msdos', 'exfat', 'fuse.fusefat']);

/** Local file systems that keep mtimes to the nanosecond (NTFS to 100 ns): see timestamp-ticks.ts. */
const FINE_TIMESTAMP_FILESYSTEMS = new Set([
  'ext2',
  'ext3',
  'ext4',
  'xfs',
  'btrfs',
  'tmpfs',
  'f2fs',
  'zfs',
  'bcachefs',
  'overlay',
  'jfs',
  'nilfs2',
  'ntfs3',
]);

/**
 * Whether this is a local file system that keeps timestamps finer than a second. Only there does
 * the walk read directory names ahead (walk.ts): it trusts them while the directory's ctime is
 * unchanged, which a network file system answers from an attribute cache (NFS: 30 to 60 s for a
 * directory) and a coarse one to the second or two.
 */
export function hasFineTimestamps(filesystem: string): boolean {
  return FINE_TIMESTAMP_FILESYSTEMS.has(filesystem);
}

/**
 * How far apart two writes of a file on this file system must be for their mtimes to differ: a
 * file read within this long of its mtime is read again once it has passed (hash-pool.ts).
 */
export function timestampTickMsOf(filesystem: string): number {
  return FINE_TIMESTAMP_FILESYSTEMS.has(filesystem) ? FINE_TIMESTAMP_TICK_MS : COARSE_TIMESTAMP_TICK_MS;
}

async function readMounts(): Promise<MountEntry[] | undefined> {
  try {
    return parseMountInfo(await fs.promises.readFile('/proc/self/mountinfo', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Without a mount table: the highest ancestor still on the same device is the mount point. */
async function mountPointByDevice(realPath: string): Promise<string> {
  const device = (await fs.promises.stat(realPath)).dev;
  let current = realPath;
  for (;;) {
    const parent = path.dirname(current);
    if (parent === current || (await fs.promises.stat(parent)).dev !== device) return current;
    current = parent;
  }
}

async function filesystemUuidOf(source: string): Promise<string | undefined> {
  if (!source.startsWith('/dev/')) return undefined;
  try {
    const device = await fs.promises.realpath(source);
    const dir = '/dev/disk/by-uuid';
    for (const name of await fs.promises.readdir(dir)) {
      if ((await fs.promises.realpath(path.join(dir, name)).catch(() => '')) === device) return name;
    }
  } catch {
    // No udev links (containers, other systems): the mount point identifies the volume instead.
  }
  return undefined;
}

/**
 * What a watch of `realPath` depends on. `mount`: the id of the mount holding it, which changes
 * when its disk is unmounted (the mount below shows through) and again when it is mounted (a new
 * mount); where there is no mount table, the device number (which a remount may give back
 * unchanged). `directory`: the directory itself (device, inode and birth time: a directory removed
 * and made again is another, even where the inode number is handed out again), undefined while
 * the path cannot be looked at.
 *
 * Neither tells a disk unmounted and mounted again between two looks: the kernel hands the
 * freed mount id to the next mount, and the disk's root directory is the same. The periodic
 * rescan (fullRescanMs) is what finds such a disk's changes.
 */
export interface WatchIdentity {
  readonly mount: string | undefined;
  readonly directory: string | undefined;
}

export async function watchIdentityOf(realPath: string): Promise<WatchIdentity> {
  const mount = findMount((await readMounts()) ?? [], realPath);
  let stats: fs.Stats | undefined;
  try {
    stats = await fs.promises.stat(realPath);
  } catch {
    stats = undefined;
  }
  return {
    mount: mount ? `mount:${mount.id}` : stats && `dev:${stats.dev}`,
    directory: stats && `${stats.dev}:${stats.ino}:${stats.birthtimeMs}`,
  };
}

export function sameWatch(a: WatchIdentity, b: WatchIdentity | undefined): boolean {
  return a.mount === b?.mount && a.directory === b?.directory;
}

/** Describes the filesystem that `realPath` lives on. */
export async function probeVolume(realPath: string): Promise<VolumeProbe> {
  const mount = findMount((await readMounts()) ?? [], realPath);
  const mountPoint = mount?.mountPoint ?? (await mountPointByDevice(realPath));
  const stats = await fs.promises.statfs(realPath);
  const filesystem = mount?.filesystem ?? FILESYSTEM_MAGIC.get(stats.type) ?? '';
  const filesystemUuid = mount ? await filesystemUuidOf(mount.source) : undefined;
  return {
    mountPoint,
    filesystem,
    name: mount && mount.source !== 'none' ? mount.source : mountPoint,
    capacityBytes: Math.max(0, stats.blocks * stats.bsize),
    ...(filesystemUuid ? { filesystemUuid } : {}),
  };
}

/**
 * Stable across runs without a lookup. A filesystem UUID follows a removable disk to whatever
 * mount point it gets next time; without one, the mount point is the identity. The device id
 * keeps two devices' "/" apart.
 */
export function volumeUuidOf(deviceId: string, probe: VolumeProbe): string {
  const key = probe.filesystemUuid ? `fs:${probe.filesystemUuid}` : `mount:${probe.mountPoint}`;
  return stableUuid(`volume:${deviceId}:${key}`);
}
