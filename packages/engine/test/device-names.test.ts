import { Library } from '../src/library';
import { readDeviceName } from '../src/membership/members';
import { signMemberRename } from '../src/membership/membership-writes';
import { createLibrary, removeTempDirs } from './fixtures';
import { admitThrough, Device, foundLibrary } from './membership-helpers';
import { syncOnce } from './sync-helpers';

afterAll(removeTempDirs);

const opened: Library[] = [];
afterEach(async () => {
  for (const library of opened.splice(0)) await library.close();
});

test('a device is shown by the name membership gives it, a rename included, on every member', async () => {
  const a: Device = await foundLibrary({ deviceName: 'desktop' });
  const b = await admitThrough(a, { deviceName: 'old-hostname' }, 'laptop');
  opened.push(a.library, b.library);
  await syncOnce(b.library, a.library);
  // The ADD's name, not the device row's (which says what the device was created with).
  expect(await readDeviceName(a.library, b.id)).toBe('laptop');
  expect(await readDeviceName(b.library, b.id)).toBe('laptop');

  await signMemberRename(a.library, a.key.signer, b.id, 'nas');
  expect(await readDeviceName(a.library, b.id)).toBe('nas');
  expect(await readDeviceName(b.library, b.id)).toBe('laptop'); // not heard yet
  await syncOnce(b.library, a.library, { types: ['membership'] });
  expect(await readDeviceName(b.library, b.id)).toBe('nas');
});

test('without a membership name, the device row names the device; with neither, the name is empty', async () => {
  const library = await createLibrary({ deviceName: 'from-its-row' });
  opened.push(library);
  expect(await readDeviceName(library, library.identity.deviceId)).toBe('from-its-row');
  expect(await readDeviceName(library, '8d2f0a4e-1c3b-8a5d-9e7f-0123456789ab')).toBe('');
});
