import * as fs from 'node:fs';
import { Library } from '../src/library';
import { LibrarySyncService } from '../src/sync-service';
import { InMemoryTransport } from '../src/testing';
import { historyMarkFile, writeHistoryMark } from '../src/store/history-mark';
import { ResourceWatermarkStore } from '../src/watermarks';
import { createMembers, removeTempDirs } from './fixtures';
import { countRows, digestsOf, pull, syncUntilCut, transportTo } from './sync-helpers';
import { SyncTransport } from '../src/transport';
import { lastValueFrom, toArray } from 'rxjs';
import { applyBatches } from '../src/apply';
import { StaleFilterError } from '../src/errors';
import { resourceTypeOf } from '../src/resource-types';
import { heldPrefixes } from '../src/testing';

afterAll(removeTempDirs);

/**
 * The most ordinary restore: a backup copied over the live file in place (same inode, so the
 * epoch stays), WAL and SHM removed. The restored database numbers its new rows with the seqs the
 * lost history used, below the cursors its peers hold; commit ids tell the two histories apart.
 */

async function addTags(library: Library, prefix: string, count: number): Promise<void> {
  await library.write(async (tx) => {
    for (let i = 0; i < count; i++) {
      await tx.put('tag', { uuid: crypto.randomUUID(), name: `${prefix}-${i}`, color: '' });
    }
  });
}

/** Closes, copies the file (and the history mark beside it) aside, reopens. */
async function backup(library: Library): Promise<{ library: Library; copy: string }> {
  const file = library.db.file;
  await library.close();
  const copy = `${file}.backup-${Math.random().toString(16).slice(2)}`;
  fs.copyFileSync(file, copy);
  fs.copyFileSync(historyMarkFile(file), historyMarkFile(copy));
  return { library: await Library.open(file), copy };
}

/**
 * Closes, copies the backup's bytes over the live file (keeping its inode), reopens. With
 * `mark`, the history mark beside it goes back too: a whole-directory snapshot rolled back,
 * which the database cannot see on open.
 */
async function restoreInPlace(library: Library, copy: string, { mark = false } = {}): Promise<Library> {
  const file = library.db.file;
  await library.close();
  const inode = fs.statSync(file).ino;
  for (const suffix of ['-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
  fs.copyFileSync(copy, file);
  if (mark) fs.copyFileSync(historyMarkFile(copy), historyMarkFile(file));
  expect(fs.statSync(file).ino).toBe(inode);
  return Library.open(file);
}

const namesLike = async (library: Library, prefix: string) =>
  (
    await library.db.read.query<{ n: number }>('SELECT count(*) AS n FROM tags WHERE name LIKE ?', [
      `${prefix}-%`,
    ])
  )[0].n;

/** A server that ignores commit ids: what a cursor check without them would do (the bug). */
class SeqOnlyService extends LibrarySyncService {
  override streamState(...[request, options]: Parameters<LibrarySyncService['streamState']>) {
    return super.streamState(
      { ...request, cursors: request.cursors.map((cursor) => ({ ...cursor, commitId: '' })) },
      options,
    );
  }
}

describe('a library restored in place from a backup', () => {
  test('the database alone: the history mark beside it shows the rollback on open, a new epoch, and peers get every row written since', async () => {
    const [first, b] = await createMembers(2);
    await addTags(first, 'before-backup', 10);
    const saved = await backup(first);
    let a = saved.library;
    const copy = saved.copy;
    const epoch = a.identity.epoch;
    await addTags(a, 'after-backup', 10);
    await pull(b, a);
    a = await restoreInPlace(a, copy);
    expect(a.identity.epoch).not.toBe(epoch);
    await addTags(a, 'after-restore', 15);
    await pull(b, a);
    expect(await namesLike(b, 'after-restore')).toBe(15);
    await a.close();
    await b.close();
  });

  test('a history mark behind the database (a crash before it moved) or missing keeps the epoch', async () => {
    let [a] = await createMembers(1);
    const file = a.db.file;
    await addTags(a, 'first', 3);
    const early = { epoch: a.identity.epoch, seq: await a.headSeq() };
    const [commit] = await a.db.read.query<{ commit_id: string }>(
      'SELECT commit_id FROM commits WHERE high_seq >= ? ORDER BY high_seq LIMIT 1',
      [early.seq],
    );
    await addTags(a, 'second', 3);
    await a.close();
    writeHistoryMark(file, { ...early, commitId: commit.commit_id });
    a = await Library.open(file);
    expect(a.identity.epoch).toBe(early.epoch);
    await a.close();
    fs.rmSync(historyMarkFile(file));
    a = await Library.open(file);
    expect(a.identity.epoch).toBe(early.epoch);
    await a.close();
  });

  test('with its history mark (a whole-directory snapshot): keeps its epoch, and a peer whose cursor lies in the lost history gets every row written since', async () => {
    const [first, b] = await createMembers(2);
    await addTags(first, 'before-backup', 10);
    const saved = await backup(first);
    let a = saved.library;
    const copy = saved.copy;
    const epoch = a.identity.epoch;
    await addTags(a, 'after-backup', 10);
    await pull(b, a);
    expect(await countRows(b, 'tags')).toBe(20);

    a = await restoreInPlace(a, copy, { mark: true });
    expect(a.identity.epoch).toBe(epoch);
    // More rows than were lost: the new history passes B's cursor, so only a commit id can tell.
    await addTags(a, 'after-restore', 15);
    const headOfA = await a.headSeq();
    const cursorOfB = (await new ResourceWatermarkStore(b.db.read).get(a.identity.deviceId, 'tag'))!;
    expect(cursorOfB.lastSeq).toBeLessThan(headOfA);
    expect(cursorOfB.peerCommit).toMatch(/^[0-9a-f]{32}$/);

    await pull(b, a);
    expect(await namesLike(b, 'after-restore')).toBe(15);
    // What the restore lost stays on B (A's anti-entropy reports it; repair --adopt-own takes it back).
    expect(await namesLike(b, 'after-backup')).toBe(10);
    await a.close();
    await b.close();
  });

  test('with its history mark, when everything since comes in one batch: the server leaves what the peer claims of its lineage out of the filter', async () => {
    // B's claim on A's lineage (from A's caught-up batches) names origin seqs of the lost
    // history, which the new one reuses. In one batch there is no later one for B to refuse as
    // served against a forgotten claim (StaleFilterError): only the server can ignore the claim.
    const [first, b] = await createMembers(2);
    await addTags(first, 'before-backup', 10);
    const saved = await backup(first);
    let a = saved.library;
    await addTags(a, 'after-backup', 10);
    await pull(b, a);
    a = await restoreInPlace(a, saved.copy, { mark: true });
    await addTags(a, 'after-restore', 15);

    const run = await syncUntilCut(b, transportTo(a), { batchSize: 1_000 });
    expect(run.error).toBeUndefined();
    expect(await namesLike(b, 'after-restore')).toBe(15);
    await a.close();
    await b.close();
  });

  test('with its history mark: the server still leaves out the rows of other lineages the peer holds', async () => {
    // Only the claims on the restored server's own lineage name the lost history; C's rows, which
    // A held before the backup and B took from A, are still left out.
    const [first, b, c] = await createMembers(3);
    await addTags(c, 'from-c', 5);
    await pull(first, c);
    const saved = await backup(first);
    let a = saved.library;
    await addTags(a, 'after-backup', 10);
    await pull(b, a);
    a = await restoreInPlace(a, saved.copy, { mark: true });
    await addTags(a, 'after-restore', 15);

    const run = await syncUntilCut(b, transportTo(a), { batchSize: 1_000 });
    expect(run.error).toBeUndefined();
    let heldSkipped = 0;
    for (const event of run.events) if (event.kind === 'batch') heldSkipped += event.heldSkipped;
    expect(heldSkipped).toBeGreaterThanOrEqual(5);
    expect(await namesLike(b, 'after-restore')).toBe(15);
    await a.close();
    await b.close();
    await c.close();
  });

  test('with its history mark: the server still leaves out its rows of an earlier epoch the peer holds', async () => {
    // A restore without the mark gave A a second epoch; a later one with the mark changes the
    // history of that second epoch only. B's claim on A's first epoch still holds.
    const [first, b] = await createMembers(2);
    await addTags(first, 'first-epoch', 5);
    await pull(b, first);
    const early = await backup(first);
    await addTags(early.library, 'lost', 3);
    let a = await restoreInPlace(early.library, early.copy);
    const firstEpoch = first.identity.epoch;
    expect(a.identity.epoch).not.toBe(firstEpoch);
    await pull(b, a);
    const saved = await backup(a);
    a = saved.library;
    await addTags(a, 'after-backup', 10);
    await pull(b, a);
    a = await restoreInPlace(a, saved.copy, { mark: true });
    await addTags(a, 'after-restore', 15);

    const run = await syncUntilCut(b, transportTo(a), { batchSize: 1_000 });
    expect(run.error).toBeUndefined();
    let heldSkipped = 0;
    for (const event of run.events) if (event.kind === 'batch') heldSkipped += event.heldSkipped;
    expect(heldSkipped).toBeGreaterThanOrEqual(5);
    expect(await namesLike(b, 'after-restore')).toBe(15);
    await a.close();
    await b.close();
  });

  test('a server comparing seqs alone skips what the restored library wrote below the old cursor (the bug the commit id catches)', async () => {
    const [first, b] = await createMembers(2);
    await addTags(first, 'before-backup', 10);
    const saved = await backup(first);
    let a = saved.library;
    const copy = saved.copy;
    await addTags(a, 'after-backup', 10);
    await pull(b, a);
    a = await restoreInPlace(a, copy, { mark: true });
    await addTags(a, 'after-restore', 15);
    const transport = new InMemoryTransport(new SeqOnlyService(a));
    expect((await syncUntilCut(b, transport, { batchSize: 3 })).error).toBeUndefined();
    expect(await namesLike(b, 'after-restore')).toBeLessThan(15);
    await a.close();
    await b.close();
  });

  test('a cursor beyond everything the restored library has committed restarts from 0, with or without a commit id', async () => {
    for (const withCommitIds of [true, false]) {
      const [first, b] = await createMembers(2);
      await addTags(first, 'before-backup', 10);
      const saved = await backup(first);
      let a = saved.library;
      const copy = saved.copy;
      await addTags(a, 'after-backup', 30);
      await pull(b, a);
      a = await restoreInPlace(a, copy, { mark: true });
      // Fewer than were lost: the restored head stays below B's cursor.
      await addTags(a, 'after-restore', 3);
      const transport = new InMemoryTransport(
        withCommitIds ? new LibrarySyncService(a) : new SeqOnlyService(a),
      );
      const run = await syncUntilCut(b, transport, { batchSize: 3 });
      expect(run.error).toBeUndefined();
      expect(await namesLike(b, 'after-restore')).toBe(3);
      const resets = run.events.filter((event) => event.kind === 'batch' && event.reset);
      expect(resets.length).toBeGreaterThan(0);
      await a.close();
      await b.close();
    }
  });

  test('a restore to a backup taken before the peer ever synced converges', async () => {
    const [first, b] = await createMembers(2);
    await addTags(first, 'before-backup', 10);
    const saved = await backup(first);
    let a = saved.library;
    const copy = saved.copy;
    await addTags(a, 'after-backup', 10);
    await pull(b, a);
    a = await restoreInPlace(a, copy);
    await addTags(a, 'after-restore', 12);
    await pull(b, a);
    expect(await namesLike(b, 'after-restore')).toBe(12);
    expect(await namesLike(b, 'before-backup')).toBe(10);
    await a.close();
    await b.close();
  });

  test('a restore of the puller itself converges: it re-pulls what it lost, and its peer re-pulls it from 0', async () => {
    const [a, first] = await createMembers(2);
    await addTags(a, 'a-first', 10);
    await pull(first, a);
    const saved = await backup(first);
    let b = saved.library;
    const copy = saved.copy;
    await addTags(a, 'a-second', 10);
    await pull(b, a);
    await pull(a, b);
    b = await restoreInPlace(b, copy);
    // B's watermark for A went back with the file: it pulls A's second batch again.
    await addTags(b, 'b-after-restore', 4);
    await pull(b, a);
    await pull(a, b);
    expect(await namesLike(b, 'a-second')).toBe(10);
    expect(await namesLike(a, 'b-after-restore')).toBe(4);
    expect(await digestsOf(a)).toEqual(await digestsOf(b));
    await a.close();
    await b.close();
  });

  test('with its history mark: a device that hears of the restore from the restored device, which then vanishes, gets its new rows through a relay (claims of the lost history are forgotten)', async () => {
    const [first, b, c] = await createMembers(3);
    await addTags(first, 'before-backup', 10);
    const saved = await backup(first);
    let a = saved.library;
    await addTags(a, 'after-backup', 10);
    await pull(b, a);
    await pull(c, a);
    a = await restoreInPlace(a, saved.copy, { mark: true });
    await addTags(a, 'after-restore', 15);
    await pull(b, a);
    // C's stream from A is cut after its first batch (the reset), and A is gone for good.
    const cut = new InMemoryTransport(new LibrarySyncService(a), {
      cutBefore: (_, delivered) => delivered >= 1,
    });
    const run = await syncUntilCut(c, cut, { batchSize: 3, types: ['tag'] });
    expect(run.events.some((event) => event.kind === 'batch' && event.reset)).toBe(true);
    await a.close();
    await pull(c, b);
    expect(await namesLike(c, 'after-restore')).toBe(15);
    await b.close();
    await c.close();
  });

  /**
   * C pulled B while it still claimed A's lost history: B left out A's new rows whose reused
   * origin seqs lie under that claim, and C's cursor on B passed them. Forgetting the claim alone
   * would leave them below that cursor for good.
   */
  async function cWithStaleClaim({ pullAfterRestore }: { pullAfterRestore: boolean }) {
    const [first, b, c] = await createMembers(3);
    await addTags(first, 'before-backup', 10);
    const saved = await backup(first);
    let a = saved.library;
    await addTags(a, 'after-backup', 10);
    await pull(b, a);
    await pull(c, a);
    await pull(c, b);
    a = await restoreInPlace(a, saved.copy, { mark: true });
    await addTags(a, 'after-restore', 15);
    await pull(b, a);
    const claimed = await heldPrefixes(c, 'tag');
    expect(claimed.some((claim) => claim.origin === a.identity.deviceId)).toBe(true);
    if (pullAfterRestore) {
      await pull(c, b);
      // The premise: some of A's new rows were left out on the strength of the stale claim.
      expect(await namesLike(c, 'after-restore')).toBeLessThan(15);
    }
    return { a, b, c, claimed };
  }

  /** C hears of the restore from A, its stream cut after the reset batch, and forgets its claim. */
  async function hearOfRestore(c: Library, a: Library): Promise<void> {
    const cut = new InMemoryTransport(new LibrarySyncService(a), {
      cutBefore: (_, delivered) => delivered >= 1,
    });
    const run = await syncUntilCut(c, cut, { batchSize: 3, types: ['tag'] });
    expect(run.events.some((event) => event.kind === 'batch' && event.reset)).toBe(true);
  }

  /** C then holds every row of A's that B holds. */
  async function expectCHoldsWhatBHolds(b: Library, c: Library): Promise<void> {
    expect(await namesLike(c, 'after-restore')).toBe(15);
    expect((await digestsOf(c)).tag).toBe((await digestsOf(b)).tag);
    await b.close();
    await c.close();
  }

  test("with its history mark: the rows a relay left out under a claim C then forgets come again from that relay (C's cursors on the other peers restart)", async () => {
    const { a, b, c } = await cWithStaleClaim({ pullAfterRestore: true });
    await hearOfRestore(c, a);
    await a.close();
    await pull(c, b);
    await expectCHoldsWhatBHolds(b, c);
  });

  test('a pull from B that reads its cursor just before C forgets a claim (and rewinds that cursor) still gets every row', async () => {
    const { a, b, c } = await cWithStaleClaim({ pullAfterRestore: true });
    // C hears of the restore from A (its stream cut after the reset batch): C forgets its claim on
    // A's lineage and rewinds its cursor on B, in one transaction. That lands right after the pull
    // from B read its cursor; a pull that read its claims only then would ask from the old cursor
    // without the claim, nothing would be refused, and its apply would undo the rewind.
    let heard = false;
    const read = c.db.read;
    const spy = jest.spyOn(c.db, 'read', 'get').mockReturnValue({
      dialect: read.dialect,
      query: async (text, params) => {
        const rows = await read.query(text, params);
        const cursorOfB =
          text.includes('FROM resource_watermarks WHERE peer_device_id = ?') &&
          params?.[0] === b.identity.deviceId &&
          params?.[1] === 'tag';
        if (cursorOfB && !heard) {
          heard = true;
          spy.mockRestore();
          await hearOfRestore(c, a);
        }
        return rows as never;
      },
    });
    await pull(c, b);
    expect(heard).toBe(true);
    await a.close();
    await pull(c, b);
    await expectCHoldsWhatBHolds(b, c);
  });

  test('a pull whose stream from B was asked with a claim C forgets while its batch is in flight is asked again, and gets every row', async () => {
    const { a, b, c } = await cWithStaleClaim({ pullAfterRestore: false });
    // B's first tag batch to C waits until C has heard of the restore from A (and forgotten).
    let release!: () => void;
    const forgotten = new Promise<void>((resolve) => (release = resolve));
    let reached!: () => void;
    const inFlight = new Promise<void>((resolve) => (reached = resolve));
    let first = true;
    const toB = transportTo(b);
    const slowB: SyncTransport = {
      handshake: (request) => toB.handshake(request),
      digest: (request) => toB.digest(request),
      async *streamState(request, signal) {
        for await (const batch of toB.streamState(request, signal)) {
          if (first) {
            first = false;
            reached();
            await forgotten;
          }
          yield batch;
        }
      },
    };
    const pulling = syncUntilCut(c, slowB, { batchSize: 100, types: ['tag'] });
    await inFlight;
    const toA = transportTo(a, { cutBefore: (_, delivered) => delivered >= 1 });
    const reset = await syncUntilCut(c, toA, { batchSize: 3, types: ['tag'] });
    expect(reset.events.some((event) => event.kind === 'batch' && event.reset)).toBe(true);
    await a.close();
    release();
    const run = await pulling;
    expect(run.error).toBeUndefined();
    expect(await namesLike(c, 'after-restore')).toBe(15);
    await b.close();
    await c.close();
  });

  test('a batch served against a claim forgotten since its request is refused whole, the cursor stays, and the stream asked again gets every row', async () => {
    const { a, b, c, claimed } = await cWithStaleClaim({ pullAfterRestore: true });
    // A stream from B requested while C still made the claim (from C's cursor before the pull
    // above), its batches in flight when C forgets the claim.
    const cursorBefore = { epoch: b.identity.epoch, seq: 0, commitId: '' };
    const inFlight = await lastValueFrom(
      new LibrarySyncService(b)
        .streamState({
          libraryId: b.identity.libraryId,
          deviceId: c.identity.deviceId,
          cursors: [{ resourceType: resourceTypeOf('tag'), ...cursorBefore, held: claimed }],
          batchSize: 100,
          follow: false,
        })
        .pipe(toArray()),
    );
    const cut = new InMemoryTransport(new LibrarySyncService(a), {
      cutBefore: (_, delivered) => delivered >= 1,
    });
    await syncUntilCut(c, cut, { batchSize: 3, types: ['tag'] });
    await a.close();
    const watermarks = new ResourceWatermarkStore(c.db.read);
    const before = await watermarks.get(b.identity.deviceId, 'tag');
    const applied = await applyBatches(c, b.identity.deviceId, inFlight, { requestedHeld: claimed });
    expect(applied.results).toEqual([]);
    expect(applied.failure).toBeInstanceOf(StaleFilterError);
    expect(await watermarks.get(b.identity.deviceId, 'tag')).toEqual(before);
    expect(await namesLike(c, 'after-restore')).toBeLessThan(15);
    await pull(c, b);
    expect(await namesLike(c, 'after-restore')).toBe(15);
    await b.close();
    await c.close();
  });
});
