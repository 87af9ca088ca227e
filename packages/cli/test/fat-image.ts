/**
 * A FAT image really mounted with fusefat (FUSE), for tests of file systems that come and go and
 * have no stable inodes. Needs root, /dev/fuse, `mkfs.vfat` (Debian's dosfstools) and `fusefat`;
 * `canMountFat` says whether this machine has them.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './harness';

function onPath(program: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const canMountFat =
  process.platform === 'linux' &&
  process.getuid?.() === 0 &&
  fs.existsSync('/dev/fuse') &&
  onPath('mkfs.vfat') &&
  onPath('fusefat');
if (!canMountFat) {
  console.warn(
    'skipped: FAT through fusefat needs root, /dev/fuse, mkfs.vfat and fusefat (apt-get install dosfstools fusefat)',
  );
}
/** An mtime FAT can hold exactly (2 s granularity), the same for every file written here. */
export const FAT_MTIME = new Date('2026-01-02T03:04:06Z');

/** A fresh FAT image and a mount point; `mount`/`unmount` as a USB stick is plugged in and out. */
export class FatImage {
  readonly image: string;
  readonly mountPoint: string;
  private mounted = false;

  constructor() {
    const dir = tempDir('tidemark-fat-');
    this.image = path.join(dir, 'fat.img');
    this.mountPoint = path.join(dir, 'mnt');
    fs.mkdirSync(this.mountPoint);
    fs.writeFileSync(this.image, '');
    fs.truncateSync(this.image, 16 * 1024 * 1024);
    execFileSync('mkfs.vfat', [this.image], { stdio: 'ignore' });
  }

  mount(): void {
    execFileSync('fusefat', ['-o', 'rw+', this.image, this.mountPoint], { stdio: 'ignore' });
    this.mounted = true;
  }

  unmount(): void {
    if (!this.mounted) return;
    execFileSync('fusermount', ['-u', this.mountPoint], { stdio: 'ignore' });
    this.mounted = false;
  }

  write(relative: string, text: string): void {
    const file = path.join(this.mountPoint, relative);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    fs.utimesSync(file, FAT_MTIME, FAT_MTIME);
  }
}
