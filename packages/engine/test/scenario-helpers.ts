import {
  DigestRequest,
  DigestResponse,
  EntryKind,
  HandshakeRequest,
  HandshakeResponse,
  StateBatch,
  StateRequest,
} from '@tidemark/proto';
import {
  DigestAccumulator,
  Library,
  RESOURCE_NAMES,
  ResourceCursor,
  ResourceName,
  SyncTransport,
  WriteTransaction,
} from '../src';
import { createLibrary, removeTempDirs } from './fixtures';
import { ResourceWatermarkStore } from '../src/watermarks';
import { OriginPrefixStore, toWire, WHOLE_LINEAGE } from '../src/origin-prefixes';
import { compareVersion } from '../src/hlc';
import type { OriginPrefix } from '@tidemark/proto';
import { RESOURCE_TABLES } from '../src/store/resource-tables';

/** A wall clock that moves on by `tickMs` every time it is read: every write gets its own time. */
export class TickingClock {
  constructor(
    public ms = Date.UTC(2025, 9, 20, 14, 0, 0),
    private readonly tickMs = 1,
  ) {}
  readonly now = (): number => {
    this.ms += this.tickMs;
    return this.ms;
  };
  advance(ms: number): void {
    this.ms += ms;
  }
}

export type PerType = Partial<{ [N in ResourceName]: number }>;

/** Every version (row or tombstone) a library holds of one type, as "r|uuid|hlc|origin" / "t|...". */
export async function versionsOf(library: Library, name: ResourceName): Promise<Set<string>> {
  const rows = await library.db.read.query<{ uuid: string; hlc: string; origin: string }>(
    `SELECT 'r' AS kind, uuid, hlc, origin FROM ${RESOURCE_TABLES[name].table}
     UNION ALL SELECT 't' AS kind, uuid, hlc, origin FROM tombstones WHERE resource_type = ?`,
    [name],
  );
  return new Set(
    (rows as { kind: string; uuid: string; hlc: string; origin: string }[]).map(
      (row) => `${row.kind}|${row.uuid}|${row.hlc}|${row.origin}`,
    ),
  );
}

/**
 * What a one-way pull from `server` into `client` lost: per type, the number of the server's
 * versions the client does not hold. Only types that lost something are listed, so "nothing
 * lost" is `{}`. (Meaningful when the client wrote nothing of its own to those rows.)
 */
export async function lostRows(server: Library, client: Library): Promise<PerType> {
  const lost: PerType = {};
  for (const name of RESOURCE_NAMES) {
    const held = await versionsOf(client, name);
    let missing = 0;
    for (const version of await versionsOf(server, name)) if (!held.has(version)) missing += 1;
    if (missing > 0) lost[name] = missing;
  }
  return lost;
}

export type DigestStrings = { [N in ResourceName]: string };

/**
 * Per-type digests "rows/tombstones/hash" of what a library holds, leaving out its own device
 * row: two clients of the same peers then compare equal type by type, the device type included.
 */
export async function peerDigests(library: Library): Promise<DigestStrings> {
  const out: Partial<DigestStrings> = {};
  for (const name of RESOURCE_NAMES) {
    const accumulator = new DigestAccumulator();
    for (const version of await versionsOf(library, name)) {
      const [kind, uuid, hlc, origin] = version.split('|');
      if (name === 'device' && uuid === library.identity.deviceId) continue;
      accumulator.add(kind === 'r' ? 'r' : 't', uuid, hlc, origin);
    }
    out[name] =
      `${accumulator.rows}/${accumulator.tombstones}/${accumulator.hash.toString('hex').slice(0, 16)}`;
  }
  return out as DigestStrings;
}

export async function countOf(library: Library, name: ResourceName): Promise<number> {
  const [row] = await library.db.read.query<{ n: number }>(
    `SELECT count(*) AS n FROM ${RESOURCE_TABLES[name].table}`,
  );
  return row.n;
}

export async function tombstoneCountOf(library: Library, name: ResourceName): Promise<number> {
  const [row] = await library.db.read.query<{ n: number }>(
    'SELECT count(*) AS n FROM tombstones WHERE resource_type = ?',
    [name],
  );
  return row.n;
}

export async function hasRow(library: Library, name: ResourceName, uuid: string): Promise<boolean> {
  const rows = await library.db.read.query(`SELECT 1 FROM ${RESOURCE_TABLES[name].table} WHERE uuid = ?`, [
    uuid,
  ]);
  return rows.length > 0;
}

export async function hasTombstone(library: Library, name: ResourceName, uuid: string): Promise<boolean> {
  const rows = await library.db.read.query('SELECT 1 FROM tombstones WHERE resource_type = ? AND uuid = ?', [
    name,
    uuid,
  ]);
  return rows.length > 0;
}

export type CursorPolicy = (peerDeviceId: string, name: ResourceName) => Promise<ResourceCursor>;

/**
 * THE SEED BUG, kept on purpose: one global watermark per peer. Every type resumes from the
 * highest position applied for ANY type of that peer (the note's `last_state_watermark`, which
 * every batch overwrote). Tests run with it to prove they catch the bug.
 */
export function globalWatermarkPolicy(library: Library): CursorPolicy {
  return async (peerDeviceId) => {
    const marks = await new ResourceWatermarkStore(library.db.read).forPeer(peerDeviceId);
    let global: ResourceCursor = { epoch: '', seq: 0 };
    for (const mark of marks.values()) {
      if (mark.lastSeq > global.seq) global = { epoch: mark.peerEpoch, seq: mark.lastSeq };
    }
    return global;
  };
}

export interface TransportHooks {
  /** Runs before a state stream opens (e.g. commit a write on the server mid-sync). */
  readonly beforeStream?: (request: StateRequest) => Promise<void> | void;
  /** Runs after the client has applied a batch and asks for the next one. */
  readonly afterBatch?: (batch: StateBatch, index: number) => Promise<void> | void;
  /** Rewrites a batch before the client sees it (fault injection: a peer sending bad data). */
  readonly mapBatch?: (batch: StateBatch, index: number) => StateBatch;
}

/** Wraps a transport with hooks between batches; the wire format stays the inner transport's. */
export class HookedTransport implements SyncTransport {
  private delivered = 0;

  constructor(
    private readonly inner: SyncTransport,
    private readonly hooks: TransportHooks,
  ) {}

  handshake(request: HandshakeRequest): Promise<HandshakeResponse> {
    return this.inner.handshake(request);
  }

  digest(request: DigestRequest): Promise<DigestResponse> {
    return this.inner.digest(request);
  }

  async *streamState(request: StateRequest, signal?: AbortSignal): AsyncGenerator<StateBatch> {
    await this.hooks.beforeStream?.(request);
    for await (const batch of this.inner.streamState(request, signal)) {
      const index = this.delivered++;
      yield this.hooks.mapBatch ? this.hooks.mapBatch(batch, index) : batch;
      await this.hooks.afterBatch?.(batch, index);
    }
  }
}

/** Deterministic lowercase v4-shaped uuid from a namespace digit and a number. */
export function fixedUuid(namespace: number, n: number): string {
  const tail = n.toString(16).padStart(12, '0');
  return `${namespace.toString(16).padStart(8, '0')}-0000-4000-8000-${tail}`;
}

export type HeldPolicy = (name: ResourceName) => Promise<OriginPrefix[]>;

/**
 * A BROKEN origin filter, kept on purpose: it trusts each peer's cursor as a prefix of that
 * peer's own lineage. A cursor says how far the peer's STREAM was applied, not that every
 * version the peer wrote up to that seq is held: a version overwritten after the cut sits at a
 * later seq, and its older version, held by a relay, is then left out. Tests run with it to
 * prove they catch a skip that rests on a prefix not applied.
 */
export function trustCursorHeldPolicy(library: Library): HeldPolicy {
  return async (name) => {
    const held = new Map<string, OriginPrefix>();
    for (const prefix of toWire(await new OriginPrefixStore(library.db.read).forType(name))) {
      held.set(`${prefix.origin}/${prefix.epoch}`, prefix);
    }
    for (const mark of await new ResourceWatermarkStore(library.db.read).all()) {
      if (mark.resourceType !== name || !mark.peerEpoch) continue;
      const key = `${mark.peerDeviceId}/${mark.peerEpoch}`;
      const seq = Math.max(held.get(key)?.seq ?? 0, mark.lastSeq);
      held.set(key, { origin: mark.peerDeviceId, epoch: mark.peerEpoch, seq });
    }
    const { deviceId, epoch } = library.identity;
    held.set(`${deviceId}/${epoch}`, { origin: deviceId, epoch, seq: WHOLE_LINEAGE });
    return [...held.values()];
  };
}

/**
 * Where `client` does not hold, for a uuid `server` holds, that version or a greater one (row
 * or tombstone): "type uuid" per miss. Empty when the client dominates the server.
 */
export async function notDominated(server: Library, client: Library): Promise<string[]> {
  const misses: string[] = [];
  for (const name of RESOURCE_NAMES) {
    const best = new Map<string, { hlc: string; origin: string }>();
    for (const version of await versionsOf(client, name)) {
      const [, uuid, hlc, origin] = version.split('|');
      const known = best.get(uuid);
      if (!known || compareVersion(hlc, origin, known.hlc, known.origin) > 0) best.set(uuid, { hlc, origin });
    }
    for (const version of await versionsOf(server, name)) {
      const [, uuid, hlc, origin] = version.split('|');
      const held = best.get(uuid);
      if (!held || compareVersion(held.hlc, held.origin, hlc, origin) < 0) misses.push(`${name} ${uuid}`);
    }
  }
  return misses;
}

interface WrittenVersion {
  readonly uuid: string;
  readonly hlc: string;
  readonly origin: string;
  readonly originSeq: number;
}

/**
 * Every version each lineage has written, as its writer stored it: the oracle against which a
 * held prefix is checked. `record` after every write reads the writer's own rows and tombstones
 * (a version stays at its writer until replaced, so reading after each write sees them all).
 */
export class WrittenVersions {
  private readonly byKey = new Map<string, Map<string, WrittenVersion>>();

  async record(library: Library): Promise<void> {
    const { deviceId, epoch } = library.identity;
    for (const name of RESOURCE_NAMES) {
      const rows = await library.db.read.query<{
        uuid: string;
        hlc: string;
        origin: string;
        origin_seq: number;
      }>(
        `SELECT uuid, hlc, origin, origin_seq FROM ${RESOURCE_TABLES[name].table} WHERE origin_lineage = ?1
         UNION ALL SELECT uuid, hlc, origin, origin_seq FROM tombstones WHERE resource_type = ?2 AND origin_lineage = ?1`,
        [library.ownLineage, name],
      );
      const key = `${deviceId}/${epoch}/${name}`;
      const versions = this.byKey.get(key) ?? new Map<string, WrittenVersion>();
      for (const row of rows) {
        versions.set(`${row.uuid}|${row.hlc}`, {
          uuid: row.uuid,
          hlc: row.hlc,
          origin: row.origin,
          originSeq: row.origin_seq,
        });
      }
      this.byKey.set(key, versions);
    }
  }

  /**
   * The prefixes `library` is about to send that it does not hold: a version the lineage wrote
   * at or below the prefix of which it holds neither that version nor a greater one (its own
   * lineage, and rows of a member it knows was removed, stamped at or after the removal, which
   * it skips at apply, are exempt).
   */
  async falseClaims(
    library: Library,
    name: ResourceName,
    prefixes: readonly OriginPrefix[],
  ): Promise<string[]> {
    const best = new Map<string, { hlc: string; origin: string }>();
    for (const version of await versionsOf(library, name)) {
      const [, uuid, hlc, origin] = version.split('|');
      const known = best.get(uuid);
      if (!known || compareVersion(hlc, origin, known.hlc, known.origin) > 0) best.set(uuid, { hlc, origin });
    }
    const problems: string[] = [];
    for (const prefix of prefixes) {
      if (prefix.origin === library.identity.deviceId) continue;
      const [removal] = await library.db.read.query<{ removed_hlc: string | null }>(
        'SELECT removed_hlc FROM members WHERE device_id = ?',
        [prefix.origin],
      );
      for (const version of this.byKey.get(`${prefix.origin}/${prefix.epoch}/${name}`)?.values() ?? []) {
        if (version.originSeq > prefix.seq) continue;
        if (removal?.removed_hlc && version.hlc >= removal.removed_hlc) continue;
        const held = best.get(version.uuid);
        if (!held || compareVersion(held.hlc, held.origin, version.hlc, version.origin) < 0) {
          problems.push(
            `${name} ${version.uuid}@${version.hlc} of ${prefix.origin} (seq ${version.originSeq} <= ${prefix.seq})`,
          );
        }
      }
    }
    return problems;
  }
}

/** The correct policy, as the client's default: the prefixes applied, and its own lineage. */
export function appliedHeldPolicy(library: Library): HeldPolicy {
  return async (name) => {
    const { deviceId, epoch } = library.identity;
    return [
      ...toWire(await new OriginPrefixStore(library.db.read).forType(name)),
      { origin: deviceId, epoch, seq: WHOLE_LINEAGE },
    ];
  };
}

/**
 * One library for every test of a file, holding `count` tags (`fixedUuid(5, n)`, named `tag n`,
 * one transaction), and then whatever `more` writes; closed, and the temp dirs removed, after
 * the file's tests. Read `library` inside tests and hooks, not at load time.
 */
export function libraryOfTagsForFile(count: number, more?: (tx: WriteTransaction) => Promise<void>) {
  const held = { library: undefined as unknown as Library };
  beforeAll(async () => {
    held.library = await createLibrary();
    await held.library.write(async (tx) => {
      for (let n = 0; n < count; n++)
        await tx.put('tag', { uuid: fixedUuid(5, n), name: `tag ${n}`, color: '' });
      await more?.(tx);
    });
  });
  afterAll(async () => {
    await held.library.close();
    removeTempDirs();
  });
  return held;
}

/**
 * Polls `condition` every `everyMs` until it holds or `deadlineMs` passes; returns whether it
 * held. For conditions fed by other processes or timers, with generous deadlines.
 */
export async function until(condition: () => boolean, deadlineMs: number, everyMs = 10): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return true;
}

/**
 * Entries `from`..`to` (exclusive) of `device` in one location, sizes `size + i`: rewriting a
 * range with another `size` makes new versions of the same rows.
 */
export async function putEntries(
  tx: WriteTransaction,
  device: string,
  from: number,
  to: number,
  size: number,
) {
  for (let i = from; i < to; i++) {
    await tx.put('entry', {
      uuid: fixedUuid(3, i),
      deviceUuid: device,
      locationUuid: fixedUuid(2, 0),
      parentUuid: '',
      relativePath: `dir/file-${i}`,
      kind: EntryKind.ENTRY_KIND_FILE,
      sizeBytes: size + i,
      modifiedAtMs: 1_700_000_000_000 + i,
      contentUuid: '',
    });
  }
}
