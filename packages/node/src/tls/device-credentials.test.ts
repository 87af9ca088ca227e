/**
 * Two processes making a device in one new DIR at the same moment both pass the key's existence
 * check; the key is written exclusively, so one of them loses. It must be told in words (exit 3 at
 * the CLI), not with a raw EEXIST, and write nothing: the winner's key and certificate stay. A
 * dangling symlink stands for the other process's key, which existsSync does not see.
 */
import { TidemarkError } from '@tidemark/engine';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createDeviceCredentials, DEVICE_CERT_FILE, DEVICE_KEY_FILE } from './device-credentials';

test('a key file made by another process after the check is ALREADY_EXISTS, and nothing is written', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-credentials-'));
  try {
    const keyFile = path.join(dir, DEVICE_KEY_FILE);
    fs.symlinkSync(path.join(dir, 'elsewhere'), keyFile);
    let refused: unknown;
    try {
      createDeviceCredentials(dir);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(TidemarkError);
    expect(refused).toMatchObject({ code: 'ALREADY_EXISTS' });
    expect((refused as Error).message).toBe(
      `${keyFile} already exists (another init or join into ${dir} at the same time?); a device keeps its key for life`,
    );
    expect(fs.readdirSync(dir)).toEqual([DEVICE_KEY_FILE]);
    expect(fs.existsSync(path.join(dir, DEVICE_CERT_FILE))).toBe(false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
