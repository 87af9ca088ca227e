/**
 * Shared page reads (src/shared-pages.ts): follow streams of one type that ask for the same page
 * (same cursor, batch size and held filter) after the same head share one read of it, and each
 * still gets exactly the page it would have read alone: the same rows and tombstones, checkpoint
 * (seq, stamp, commit id, what it covers), caught-up flag and held count. Followers with another
 * filter or cursor, and one that joins later, read pages of their own.
 */
import { OriginPrefix, StateBatch } from '@tidemark/proto';
import { Observable, Subscription } from 'rxjs';
import { commitAt } from '../src/commits';
import { decodeHlc } from '../src/hlc';
import { Library } from '../src/library';
import { OriginPrefixStore, toWire } from '../src/origin-prefixes';
import { backfillResource$, BackfillOptions, HeldByLineage, readPage } from '../src/serve';
import { sharedPageReadsOf } from '../src/shared-pages';
import { SqlRunner } from '../src/store/library-database';
import { createLibrary, removeTempDirs } from './fixtures';
import { fixedUuid, TickingClock } from './scenario-helpers';
import { pull } from './sync-helpers';

const BATCH = 2;

let clock: TickingClock;
let writer: Library;
let hub: Library;
let nextTag = 0;

beforeEach(async () => {
  clock = new TickingClock();
  writer = await createLibrary({ clock: { now: clock.now } });
  hub = await createLibrary({ libraryId: writer.identity.libraryId, clock: { now: clock.now } });
});

afterEach(async () => {
  await hub.close();
  await writer.close();
});

afterAll(removeTempDirs);

async function putTags(library: Library, count: number): Promise<void> {
  await library.write(async (tx) => {
    for (let n = 0; n < count; n++) {
      const i = nextTag++;
      await tx.put('tag', { uuid: fixedUuid(5, i), name: `tag ${i}`, color: '' });
    }
  });
}

/** Page reads of the database (each page's probe), counted on the hub's reader. */
function countProbes(): { readonly count: () => number } {
  let probes = 0;
  const read = hub.db.read;
  const counted: SqlRunner = {
    dialect: read.dialect,
    queryArrays: read.queryArrays?.bind(read),
    query: (text, params) => {
      if (text.trimStart().startsWith('WITH firsts')) probes += 1;
      return read.query(text, params);
    },
  };
  jest.spyOn(hub.db, 'read', 'get').mockReturnValue(counted);
  return { count: () => probes };
}

interface Received {
  /** The stream's seq before the page: the previous checkpoint's, or the cursor's. */
  readonly after: number;
  readonly batch: StateBatch;
}

/** A tag follow stream on the hub, recording what it receives and from where. */
class Follower {
  readonly received: Received[] = [];
  private readonly subscription: Subscription;
  private failure: unknown;
  private seq: number;

  constructor(
    readonly cursorSeq: number,
    readonly held: readonly OriginPrefix[] = [],
    options: BackfillOptions = {},
  ) {
    this.seq = cursorSeq;
    const stream: Observable<StateBatch> = backfillResource$(
      hub,
      'tag',
      { epoch: hub.identity.epoch, seq: cursorSeq },
      BATCH,
      { follow: true, held, ...options },
    );
    this.subscription = stream.subscribe({
      next: (batch) => {
        this.received.push({ after: this.seq, batch });
        this.seq = batch.checkpoint?.seq ?? this.seq;
      },
      error: (error: unknown) => (this.failure = error),
    });
  }

  get at(): number {
    return this.seq;
  }

  get caughtUp(): boolean {
    return this.received.at(-1)?.batch.caughtUp ?? false;
  }

  check(): void {
    if (this.failure) throw this.failure;
  }

  stop(): void {
    this.subscription.unsubscribe();
  }
}

/** Waits until every follower caught up at `seq`; fails after a generous deadline. */
async function allAt(followers: readonly Follower[], seq: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    for (const follower of followers) follower.check();
    if (followers.every((follower) => follower.at >= seq && follower.caughtUp)) return;
    if (Date.now() > deadline) {
      const at = followers.map((follower) => follower.at).join(', ');
      throw new Error(`followers at ${at} after 60 s, not all caught up at ${seq}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The highest seq of the tag type (rows and tombstones). */
async function tagHead(): Promise<number> {
  const [row] = await hub.db.read.query<{ seq: number | null }>(
    `SELECT max(seq) AS seq FROM (SELECT seq FROM tags UNION ALL
       SELECT seq FROM tombstones WHERE resource_type = 'tag') AS tagged`,
  );
  return Number(row.seq ?? 0);
}

async function heldByLineage(held: readonly OriginPrefix[]): Promise<HeldByLineage> {
  const map = new Map<number, number>();
  for (const prefix of held) {
    const id = await hub.lineages.idOf(prefix.origin, prefix.epoch);
    if (id !== undefined) map.set(id, prefix.seq);
  }
  return map;
}

/**
 * Checks every batch a follower received since `from` against the page it would read alone now,
 * straight from the database: call only while nothing was written since those batches.
 */
async function expectPagesAsAlone(follower: Follower, from: number): Promise<void> {
  const sql = hub.db.read;
  const filter = await heldByLineage(follower.held);
  const covered = toWire(await new OriginPrefixStore(sql).forType('tag'));
  for (const { after, batch } of follower.received.slice(from)) {
    const page = await readPage(sql, 'tag', after, BATCH, filter);
    const alone = {
      records: page.records,
      tombstones: page.tombstones.map((tombstone) => tombstone.uuid),
      recordOriginSeqs: page.recordOrigins.map(([seq]) => seq),
      seq: page.lastSeq,
      hlc: page.lastHlc ? decodeHlc(page.lastHlc) : undefined,
      commitId: (await commitAt(sql, page.lastSeq)) ?? '',
      caughtUp: page.caughtUp,
      heldSkipped: page.heldSkipped,
      covered: page.caughtUp ? covered : [],
    };
    const got = {
      records: batch.records,
      tombstones: batch.tombstones.map((tombstone) => tombstone.uuid),
      recordOriginSeqs: batch.recordOriginSeqs,
      seq: batch.checkpoint?.seq,
      hlc: batch.checkpoint?.hlc,
      commitId: batch.checkpoint?.commitId,
      caughtUp: batch.caughtUp,
      heldSkipped: batch.heldSkipped,
      // The hub's own lineage up to the stream's head comes last; the stream's own.
      covered: batch.checkpoint?.covered.slice(0, -1) ?? [],
    };
    expect(got).toEqual(alone);
  }
}

test('followers at one cursor with one filter share one read of each page; a commit is one read, not one per follower', async () => {
  await putTags(hub, 3);
  const head = await hub.headSeq();
  const probes = countProbes();
  const followers = Array.from({ length: 20 }, () => new Follower(head));
  try {
    await allAt(followers, head);
    const reads = sharedPageReadsOf(hub).readCounts.reads;
    let probesOfCommits = 0;
    for (let commit = 0; commit < 5; commit++) {
      const before = probes.count();
      await putTags(hub, 1);
      await allAt(followers, await tagHead());
      probesOfCommits += probes.count() - before;
      for (const follower of followers) await expectPagesAsAlone(follower, follower.received.length - 1);
    }
    // Every follower woken by each commit asks for the same page: one read per commit. Read
    // alone, it was 20 per commit.
    expect(probesOfCommits).toBe(5);
    expect(sharedPageReadsOf(hub).readCounts.reads - reads).toBe(5);
    for (const follower of followers)
      expect(follower.received.map(({ batch }) => batch.records.length)).toEqual([0, 1, 1, 1, 1, 1]);
  } finally {
    for (const follower of followers) follower.stop();
  }
});

test('followers with other filters, at other cursors, or joining later each get the page they would read alone', async () => {
  // Rows of two lineages on the hub: the writer's (pulled) and its own.
  await putTags(writer, 5);
  await pull(hub, writer);
  await putTags(hub, 3);
  const writerHead = await writer.headSeq();
  const holdsSome: OriginPrefix[] = [
    { origin: writer.identity.deviceId, epoch: writer.identity.epoch, seq: writerHead - 2 },
  ];
  const holdsAll: OriginPrefix[] = [
    { origin: writer.identity.deviceId, epoch: writer.identity.epoch, seq: writerHead },
  ];
  const [firstTag] = await hub.db.read.query<{ seq: number }>('SELECT seq FROM tags ORDER BY seq LIMIT 1');
  const followers = [
    new Follower(0),
    new Follower(0),
    new Follower(0, holdsSome),
    new Follower(0, holdsAll),
    new Follower(firstTag.seq),
    new Follower(firstTag.seq, holdsSome),
  ];
  const checked = followers.map(() => 0);
  const checkAll = async () => {
    for (const [index, follower] of followers.entries()) {
      await expectPagesAsAlone(follower, checked[index]);
      checked[index] = follower.received.length;
    }
  };
  try {
    await allAt(followers, await tagHead());
    await checkAll();
    // The filters made a difference: else this test could not tell one page from another.
    expect(followers[2].received.some(({ batch }) => batch.heldSkipped > 0)).toBe(true);
    expect(followers[3].received.some(({ batch }) => batch.heldSkipped > 0)).toBe(true);

    // Commits of both lineages while they follow; a follower joins from 0 and one from the head.
    await putTags(hub, 1);
    await allAt(followers, await tagHead());
    await checkAll();
    followers.push(new Follower(0, holdsSome), new Follower(await hub.headSeq()));
    checked.push(0, 0);
    await allAt(followers, await tagHead());
    await checkAll();
    await putTags(writer, 3);
    await pull(hub, writer);
    await allAt(followers, await tagHead());
    await checkAll();
    await putTags(hub, 2);
    await allAt(followers, await tagHead());
    await checkAll();
    expect(sharedPageReadsOf(hub).readCounts.shared).toBeGreaterThan(0);
  } finally {
    for (const follower of followers) follower.stop();
  }
});

test('a stream that knows of a later commit does not take a page read before it', async () => {
  await putTags(hub, 2);
  const head = await hub.headSeq();
  // The first follower reads the caught-up page at the head, then is held in its backpressure.
  let release: (() => void) | undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  const blocked = new Follower(head, [], { backpressure: () => held });
  try {
    await allAt([blocked], head);
    await putTags(hub, 1);
    // A stream from the same cursor, started after the commit: its page must hold the commit,
    // though a page at that cursor (read before the commit) is at hand.
    const joined = new Follower(head);
    await allAt([joined], await tagHead());
    expect(joined.received[0].batch.records).toHaveLength(1);
    await expectPagesAsAlone(joined, 0);
    joined.stop();
  } finally {
    release?.();
    blocked.stop();
  }
});
