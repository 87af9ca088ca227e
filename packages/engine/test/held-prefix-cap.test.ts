/**
 * A node that holds claims (origin prefixes) on 1,000 or more lineages of a type sends
 * them all in Cursor.held, and every server refused the request (INVALID_ARGUMENT, at most 1,000
 * prefixes per cursor): the session failed as a whole, every time, and sync stopped for good. A
 * pull now sends the 999 largest claims and its own lineage; leaving one out costs transfer only.
 * A hub that took rows of many devices hands all its claims over in its caught-up checkpoint, so
 * one backfill from it is enough to get there.
 */
import { lastValueFrom, toArray } from 'rxjs';
import { Library, syncFromPeer$ } from '../src';
import { lineageIdsFor, MAX_HELD_PREFIXES, OriginPrefixStore } from '../src/origin-prefixes';
import { heldPrefixes } from '../src/testing/held-prefixes';
import { createMembers, removeTempDirs } from './fixtures';
import { fixedUuid } from './scenario-helpers';
import { transportTo } from './sync-helpers';

let a: Library;
let b: Library;

beforeAll(async () => {
  [a, b] = await createMembers(2);
  await a.write(async (tx) => {
    await tx.put('tag', { uuid: fixedUuid(5, 1), name: 'tag 1', color: '' });
  });
  // A hub that took `tag` rows from MAX_HELD_PREFIXES devices holds a claim on each lineage
  // (set up directly: the same rows apply would have stored after 1,000 devices' caught-up pulls).
  await a.db.writeTransaction(async (sql) => {
    const lineages = Array.from({ length: MAX_HELD_PREFIXES }, (_, n) => ({
      origin: fixedUuid(7, n),
      epoch: fixedUuid(8, n),
    }));
    const ids = await lineageIdsFor(sql, lineages);
    const store = new OriginPrefixStore(sql);
    for (const id of ids.values()) await store.raise(id, 'tag', 1);
  });
});

afterAll(async () => {
  await a.close();
  await b.close();
  removeTempDirs();
});

test('a node holding claims on 1,000+ lineages of a type still syncs that type', async () => {
  // First pull: B sends only its own lineage, and adopts A's claims from the caught-up batch.
  const first = await lastValueFrom(syncFromPeer$(b, transportTo(a), { types: ['tag'] }).pipe(toArray()));
  expect(first.some((event) => event.kind === 'batch')).toBe(true);
  expect((await heldPrefixes(b, 'tag')).length).toBeGreaterThanOrEqual(MAX_HELD_PREFIXES);

  // New rows at A, and B pulls again (a reconnect, or the follow phase of the same session).
  await a.write(async (tx) => {
    await tx.put('tag', { uuid: fixedUuid(5, 2), name: 'tag 2', color: '' });
  });
  await expect(
    lastValueFrom(syncFromPeer$(b, transportTo(a), { types: ['tag'] }).pipe(toArray())),
  ).resolves.toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'backfilled', failed: [] })]));
  const [row] = await b.db.read.query<{ n: number }>(`SELECT count(*) AS n FROM tags`);
  expect(Number(row.n)).toBe(2);
});
