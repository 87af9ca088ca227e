import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Launcher } from './harness';

/**
 * Debian's libfaketime (package `faketime`), preloaded through `env`, which execs the command:
 * the spawned process is the node itself, so stopping it stops the node (the `faketime` wrapper
 * forks, and a signal to it does not reach its child). Only the wall clock is shifted: timers
 * run on the real monotonic clock.
 */
export const LIBFAKETIME = ['/usr/lib', '/usr/lib64']
  .flatMap((root) => (fs.existsSync(root) ? fs.readdirSync(root).map((dir) => path.join(root, dir)) : []))
  .map((dir) => path.join(dir, 'faketime', 'libfaketimeMT.so.1'))
  .find((file) => fs.existsSync(file));

/** Runs a `tidemark` process with its wall clock shifted by `offset` (faketime's syntax: `+10m`, `-3d`). */
export const shiftedBy = (offset: string): Launcher => [
  'env',
  `LD_PRELOAD=${LIBFAKETIME}`,
  `FAKETIME=${offset}`,
  'DONT_FAKE_MONOTONIC=1',
];

/** Runs a `tidemark` process with this machine's clock. */
export const CORRECT: Launcher = [];

/** Fails a test, saying what to install, when libfaketime is missing. */
export function expectLibfaketime(): void {
  expect(LIBFAKETIME ?? 'libfaketime is missing: apt-get install -y faketime').toMatch(/libfaketimeMT/);
}
