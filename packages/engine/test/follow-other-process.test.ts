/**
 * Live follow across processes: a writer in another real process commits 200 tags at seeded
 * random intervals (a third back to back) on the library's file, and a follower in this process
 * (the serving side of a follow stream) must see every commit, in seq order, none twice.
 *
 * Each way of waking the follower runs alone: the file-system notification with the fallback
 * poll pushed to an hour, and the fallback poll alone. The control removes both (no
 * notification, a fallback of an hour): the follower then sees none of the commits, which
 * proves the test catches a follower that other processes' commits do not wake. A stream of a
 * type the writer never writes must not be woken by them (its pages are counted).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { StateBatch } from '@tidemark/proto';
import { Subscription } from 'rxjs';
import { Library, OpenLibraryOptions } from '../src/library';
import { backfillResource$ } from '../src/serve';
import { createLibrary, removeTempDirs, STORE_UNDER_TEST } from './fixtures';
import { until } from './scenario-helpers';

const DIST = path.join(__dirname, '..', 'dist', 'index.js');
const WRITER = path.join(__dirname, 'fixtures', 'commit-writer.js');
const COMMITS = 200;
/** Generous: the machine is shared and slow at times. */
const DEADLINE_MS = 60_000;
/** How long the control waits, after the writer is done, for commits it must not see. */
const CONTROL_GRACE_MS = 3_000;
const SEED = Number(process.env.FOLLOW_SEED ?? Date.now() % 1_000_000);

afterAll(removeTempDirs);

interface Variant {
  readonly label: string;
  readonly options: OpenLibraryOptions;
  /** Commits the follower must have seen when the writer is done and the wait is over. */
  readonly seen: number;
}

const HOUR_MS = 3_600_000;

const VARIANTS: readonly Variant[] = [
  {
    label:
      'the file-system notification alone (fallback poll of an hour) wakes the follower for every commit',
    options: { fallbackPollMs: HOUR_MS },
    seen: COMMITS,
  },
  {
    label: 'the fallback poll alone (no notification) recovers every commit',
    options: { commitNotifications: false, fallbackPollMs: 250 },
    seen: COMMITS,
  },
  {
    label: 'control: no notification and a fallback poll of an hour FAILS, seeing none of the commits',
    options: { commitNotifications: false, fallbackPollMs: HOUR_MS },
    seen: 0,
  },
];

/** Lines of a child's stdout as they arrive, and a promise for its exit code. */
function startWriter(file: string): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [WRITER, DIST, file, String(COMMITS), String(SEED)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      if (code !== 0) process.stderr.write(`commit writer exited ${code}: ${stderr}\n`);
      resolve(code);
    }),
  );
  return { child, lines, exited };
}

describe.each(VARIANTS)('$label', (variant) => {
  let follower: Library;
  let writer: ReturnType<typeof startWriter> | undefined;
  let stream: Subscription | undefined;
  let others: Subscription | undefined;

  afterEach(async () => {
    writer?.child.kill('SIGKILL');
    stream?.unsubscribe();
    others?.unsubscribe();
    jest.restoreAllMocks();
    await follower?.close();
  });

  test(`200 commits of another process, in seq order, none twice (seed ${SEED}; replay with FOLLOW_SEED)`, async () => {
    expect(fs.existsSync(DIST)).toBe(true); // build first: npx nx run engine:build
    const made = await createLibrary();
    const file = made.file;
    await made.close();
    follower = await Library.open(file, variant.options);
    const base = await follower.headSeq();

    const batches: StateBatch[] = [];
    const caughtUp = new Promise<void>((resolve, reject) => {
      stream = backfillResource$(follower, 'tag', { epoch: follower.identity.epoch, seq: base }, 1_000, {
        follow: true,
      }).subscribe({
        next: (batch) => {
          batches.push(batch);
          if (batch.caughtUp) resolve();
        },
        error: reject,
      });
    });
    await caughtUp;
    // A stream of a type the writer never writes must not be woken by its tag commits (SQLite:
    // the commit watch reads the types' heads per head; PostgreSQL: each NOTIFY names its
    // types). Counted as the page probes it runs.
    let collectionPages = 0;
    const read = follower.db.read;
    jest.spyOn(follower.db, 'read', 'get').mockReturnValue({
      ...read,
      dialect: read.dialect,
      query: (text, params) => {
        if (text.trimStart().startsWith('WITH firsts') && params?.[2] === 'collection') collectionPages += 1;
        return read.query(text, params);
      },
    });
    const collectionCaughtUp = new Promise<void>((resolve, reject) => {
      others = backfillResource$(
        follower,
        'collection',
        { epoch: follower.identity.epoch, seq: base },
        1_000,
        {
          follow: true,
        },
      ).subscribe({ next: (batch) => batch.caughtUp && resolve(), error: reject });
    });
    await collectionCaughtUp;
    const collectionPagesBefore = collectionPages;
    const names = () =>
      batches.flatMap((batch) =>
        batch.records.map((record) => (record.kind?.$case === 'tag' ? record.kind.value.name : '?')),
      );

    writer = startWriter(file);
    expect(await writer.exited).toBe(0);
    expect(writer.lines.at(-1)).toBe('done');
    const heads = writer.lines.slice(0, -1).map((line) => (JSON.parse(line) as { head: number }).head);
    expect(heads).toEqual(Array.from({ length: COMMITS }, (_, i) => base + i + 1));

    if (variant.seen === COMMITS) {
      await until(() => names().length >= COMMITS, DEADLINE_MS);
    } else {
      await until(() => names().length > variant.seen, CONTROL_GRACE_MS);
    }
    const seen = names();
    expect(seen).toHaveLength(variant.seen);
    // In seq order and none twice: commit i wrote "commit i" at seq base + i + 1.
    expect(seen).toEqual(Array.from({ length: variant.seen }, (_, i) => `commit ${i}`));
    const seqs = batches.filter((batch) => batch.records.length).map((batch) => batch.checkpoint!.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    if (variant.seen) expect(seqs.at(-1)).toBe(base + COMMITS);
    // A hub's poll without NOTIFY still wakes every type (listen-watch.ts): not checked there.
    if (STORE_UNDER_TEST === 'sqlite' || variant.options.commitNotifications !== false)
      expect(collectionPages - collectionPagesBefore).toBe(0);
  });
});
