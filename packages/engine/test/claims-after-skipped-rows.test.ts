/**
 * A shared row that a relay serves and apply leaves out (a removed member's later version, or
 * one in this device's own name from before a restore) may have replaced, at the relay, another
 * origin's version. The relay's claims on that origin then cover a version this device holds
 * neither of, nor anything newer: taking them would make every server leave it out here. Such a
 * relay's claims on the type are not taken (apply.ts, `adoptCovered`). Device-owned rows cannot
 * replace another origin's, so their claims still are.
 */
import * as fs from 'node:fs';
import { Library } from '../src/library';
import { signMemberRemove } from '../src/membership/membership-writes';
import { OriginPrefixStore } from '../src/origin-prefixes';
import { createMembers, removeTempDirs } from './fixtures';
import { admitThrough, Device, foundLibrary } from './membership-helpers';
import { putEntries, TickingClock } from './scenario-helpers';
import { syncOnce } from './sync-helpers';

afterAll(removeTempDirs);

const TAG = '6f1c3d2e-1111-4222-8333-444455556666';

async function tagNames(library: Library): Promise<string[]> {
  const rows = await library.db.read.query<{ name: string }>('SELECT name FROM tags WHERE uuid = ?', [TAG]);
  return rows.map((row) => row.name);
}

const claimedOrigins = async (library: Library, name: 'tag' | 'entry') =>
  (await new OriginPrefixStore(library.db.read).forType(name)).map((prefix) => prefix.origin);

describe('a removed member’s later overwrite, taken by a relay that has not heard of the removal', () => {
  let clock: TickingClock;
  let devices: Device[];

  beforeEach(() => {
    clock = new TickingClock();
    devices = [];
  });

  afterEach(async () => {
    for (const device of devices) await device.library.close();
  });

  /** A founds the library; B (the requester), C (removed later) and X (the relay) join it. */
  async function members() {
    const options = { clock: { now: clock.now } };
    const a = await foundLibrary(options);
    devices.push(a);
    const b = await admitThrough(a, options, 'b');
    const c = await admitThrough(a, options, 'c');
    const x = await admitThrough(a, options, 'x');
    devices.push(b, c, x);
    for (const device of [b, c, x]) await syncOnce(device.library, a.library, { types: ['membership'] });
    return { a, b, c, x };
  }

  test.each([
    ['with origin filters', true],
    ['without them', false],
  ])(
    'a shared row: the requester still gets the version the overwrite replaced (%s)',
    async (_label, originFilter) => {
      const { a, b, c, x } = await members();
      await a.library.write((tx) => tx.put('tag', { uuid: TAG, name: 'v0 by a', color: '' }));
      await syncOnce(x.library, a.library);
      await syncOnce(c.library, a.library);
      // B removes C; C, not knowing, overwrites the tag, and X (not knowing either) takes it.
      await signMemberRemove(b.library, b.key.signer, c.id);
      await c.library.write((tx) => tx.put('tag', { uuid: TAG, name: 'v2 by c after removal', color: '' }));
      await syncOnce(x.library, c.library, { types: ['tag'] });
      expect(await tagNames(x.library)).toEqual(['v2 by c after removal']);
      // B pulls X (C's overwrite is refused, X's caught-up batch claims A's lineage), then A.
      await syncOnce(b.library, x.library, { originFilter });
      expect(await claimedOrigins(b.library, 'tag')).not.toContain(a.id);
      await syncOnce(b.library, a.library, { originFilter });
      expect(await tagNames(b.library)).toEqual(['v0 by a']);
    },
  );

  test('device-owned rows: the relay’s claims on other origins are still taken', async () => {
    const { a, b, c, x } = await members();
    await a.library.write((tx) => putEntries(tx, a.id, 0, 5, 100));
    await syncOnce(x.library, a.library);
    await signMemberRemove(b.library, b.key.signer, c.id);
    await c.library.write((tx) => putEntries(tx, c.id, 10, 12, 100));
    await syncOnce(x.library, c.library, { types: ['entry'] });
    await syncOnce(b.library, x.library, { types: ['membership', 'entry'] });
    // C's entries were left out, and X's claim on A's entries was taken all the same.
    const [skipped] = await b.library.db.read.query<{ rows: number }>(
      "SELECT rows FROM skipped_rows WHERE resource_type = 'entry' AND reason = 'after_removal'",
    );
    expect(Number(skipped?.rows)).toBe(2);
    expect(await claimedOrigins(b.library, 'entry')).toContain(a.id);
  });
});

test('a restored device leaves out, as its own, a relay’s version that replaced another origin’s: it still gets that origin’s version', async () => {
  const [o, restored, y] = await createMembers(3);
  let r = restored;
  const file = r.db.file;
  // A backup of R from before it saw the tag.
  await r.close();
  fs.copyFileSync(file, `${file}.backup`);
  r = await Library.open(file);
  await o.write((tx) => tx.put('tag', { uuid: TAG, name: 'v1 by o', color: '' }));
  await syncOnce(r, o, { types: ['tag'] });
  await r.write((tx) => tx.put('tag', { uuid: TAG, name: 'v2 by r', color: '' }));
  await syncOnce(y, o, { types: ['tag'] });
  await syncOnce(y, r, { types: ['tag'] });
  expect(await tagNames(y)).toEqual(['v2 by r']);
  // R restored from the backup (a new epoch) holds nothing of the tag; Y's v2 is in R's name.
  await r.close();
  fs.renameSync(`${file}.backup`, file);
  r = await Library.open(file);
  await syncOnce(r, y, { types: ['tag'] });
  await syncOnce(r, o, { types: ['tag'] });
  expect(await tagNames(r)).toEqual(['v1 by o']);
  for (const library of [o, r, y]) await library.close();
});
