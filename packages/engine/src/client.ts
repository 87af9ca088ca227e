import { HandshakeResponse, OriginPrefix, ProtocolVersion, StateBatch } from '@tidemark/proto';
import { merge, Observable, defer } from 'rxjs';
import { BackfillGate } from './backfill-gate';
import { MAX_HELD_PREFIXES, OriginPrefixStore, toWire, WHOLE_LINEAGE } from './origin-prefixes';
import { applyBatches, OriginCounts } from './apply';
import { approximateBatchBytes } from './batch-bytes';
import { isTidemarkError, MalformedBatchError, StaleFilterError, TidemarkError } from './errors';
import { UnknownWriterError } from './membership/authorize-batch';
import { devicesWithAdd } from './membership/membership-state';
import { resourceHeads } from './heads';
import { HlcStamp } from './hlc';
import { Library } from './library';
import { offsetFromRoundTrip, PeerClockOffset, PeerClockStore } from './peer-clocks';
import { PeerHeadStore } from './peer-heads';
import { RESOURCE_NAMES, ResourceName, resourceTypeOf } from './resource-types';
import { SyncTransport } from './transport';
import { ResourceCursor } from './serve';
import { isUuid, validateEpoch } from './validate';
import { ResourceWatermarkStore } from './watermarks';

export interface SyncOptions {
  /** Types to sync; default all, always taken in dependency order. */
  readonly types?: readonly ResourceName[];
  /** Requested batch size; 0 or absent means the server's default. */
  readonly batchSize?: number;
  /** After backfilling, keep following every type live until unsubscribed. */
  readonly follow?: boolean;
  /**
   * Where each type resumes from. The default, and the only correct policy, is the type's own
   * watermark. Tests inject broken policies (one global watermark per peer) here to prove that
   * the suite catches the global-watermark bug: one cursor per peer for every device-owned type,
   * so a resumed backfill skipped every volume and location older than the last entry batch.
   */
  readonly cursorFor?: (peerDeviceId: string, name: ResourceName) => Promise<ResourceCursor>;
  /**
   * Take this device's own rows from the peer when it does not hold them at that version (after
   * a restore from an old backup); by default they are skipped and counted (see ApplyOptions).
   */
  readonly adoptOwnRows?: boolean;
  /**
   * Send what this device holds (`Cursor.held`), so the peer leaves out rows held already and
   * this device's own rows. Default true; false asks for every row, as a v1 client does.
   */
  readonly originFilter?: boolean;
  /**
   * What to tell the peer this device holds of a type. The default, and the only correct policy,
   * is the origin prefixes it has durably applied plus its own lineage. Tests inject broken
   * policies (one that trusts a prefix not applied yet) here to prove the suite catches them.
   */
  readonly heldFor?: (name: ResourceName) => Promise<OriginPrefix[]>;
  /**
   * Shared by the sessions of one library, so each type is backfilled from one peer at a time,
   * the peer holding most of it first, the others waiting while it makes progress (see
   * BackfillGate). Absent: no coordination.
   */
  readonly backfillGate?: BackfillGate;
  /**
   * A stream is re-requested with the new prefixes when another peer raised them, at most this
   * often (ms), and only once it delivered a batch since it was last asked. Default 250.
   */
  readonly refilterEveryMs?: number;
}

export type SyncEvent =
  | {
      readonly kind: 'connected';
      readonly peerDeviceId: string;
      readonly peerEpoch: string;
      readonly handshake: HandshakeResponse;
      /** Set when the peer's epoch changed and every cursor of that peer restarted from 0. */
      readonly resetFromEpoch?: string;
      /** The peer's clock offset estimated at this handshake; absent when the peer sent no time. */
      readonly clockOffset?: PeerClockOffset;
      /** This device's max drift, against which the offset is judged. */
      readonly maxDriftMs: number;
    }
  | {
      readonly kind: 'batch';
      readonly resourceType: ResourceName;
      readonly phase: 'backfill' | 'follow';
      /** Rows and tombstones in this batch, and written after last-writer-wins. */
      readonly received: number;
      readonly written: number;
      /** Totals for this type in this sync. */
      readonly totalReceived: number;
      readonly totalWritten: number;
      readonly batches: number;
      /** What the peer still had to send for this type when it read the batch. */
      readonly remaining: number;
      readonly rowsPerSecond: number;
      readonly watermarkSeq: number;
      /** HLC of the batch's checkpoint: the newest applied stamp, for lag in seconds. */
      readonly checkpointHlc: HlcStamp | undefined;
      readonly caughtUp: boolean;
      readonly reset: boolean;
      /**
       * Rows and tombstones of the batch stamped more than the max drift ahead of this device's
       * clock (applied, adopted only up to the bound), and how far ahead the furthest was in ms.
       */
      readonly beyondDrift: number;
      readonly maxAheadMs: number;
      /** Rows of a removed member written after its removal: skipped, never stalling the type. */
      readonly skippedAfterRemoval: number;
      /** Rows of this device's own identity it does not hold: skipped unless adopted. */
      readonly ownRowsSkipped: number;
      /** Rows and tombstones the peer left out because this device holds them already. */
      readonly heldSkipped: number;
      /** Per origin device: rows and tombstones of the batch received, and written. */
      readonly byOrigin: ReadonlyMap<string, OriginCounts>;
    }
  | { readonly kind: 'type_failed'; readonly resourceType: ResourceName; readonly error: TidemarkError }
  | { readonly kind: 'backfilled'; readonly failed: readonly ResourceName[] };

/** Errors that belong to one type's data; anything else means the connection is unusable. */
function isPerTypeFailure(error: unknown): error is TidemarkError {
  return isTidemarkError(error) && (error.code === 'MALFORMED_BATCH' || error.code === 'FORBIDDEN_ROWS');
}

/** At most this many rows of already-received batches go into one apply transaction. */
const MAX_GROUP_ROWS = 10_000;
/** And at most this many batches, so many tiny follow batches stay a bounded group too. */
const MAX_GROUP_BATCHES = 8;
/**
 * And no more batches once the group holds this many bytes (approximateBatchBytes), and no
 * batch read ahead while such a group is applied. Groups of ordinary rows (10,000 rows, 1-5 MB)
 * are not affected; a batch of rows at their field bounds (up to 20 MiB) is applied alone, and
 * the next one is read and decoded only after it: each is held decoded once, never two or
 * three at a time (a node flooded with such batches peaked at 460 MB, docs/security.md).
 */
const MAX_GROUP_BYTES = 8 * 1024 * 1024;

/**
 * Bytes a batch should carry at most (approximateBatchBytes). A peer whose batches carry more
 * (rows near their field bounds: 5,000 4-KiB paths are 20 MB) is asked again, from the stored
 * cursor, for as many rows as fit. The receiver's limits follow the rows it asks for
 * (grpc-transport.ts), so such a peer's messages shrink from up to 20 MiB to ~5 MiB, and so
 * does every copy held while they are received, decoded and applied.
 */
const TARGET_BATCH_BYTES = 4 * 1024 * 1024;

/** The batch size to ask for instead, when `batch` carries more than TARGET_BATCH_BYTES. */
function smallerBatchSize(batch: StateBatch): number | undefined {
  const rows = rowsOf(batch);
  const bytes = approximateBatchBytes(batch);
  if (bytes <= TARGET_BATCH_BYTES || rows <= 1) return undefined;
  return Math.max(1, Math.floor((rows * TARGET_BATCH_BYTES) / bytes));
}

function rowsOf(batch: StateBatch): number {
  return batch.records.length + batch.tombstones.length;
}

/**
 * Groups the batches of a stream for `applyBatches`: a group is the next batch plus those that
 * have ALREADY arrived behind it, never waiting for more, so a live follow stream is applied
 * as soon as it arrives. Reading one batch ahead while a group is applied keeps the transport
 * busy; the groups' size limits and that single read ahead bound the memory held here.
 */
export async function* readyGroups(iterator: AsyncIterator<StateBatch>): AsyncGenerator<StateBatch[]> {
  type Read = {
    state: 'pending' | 'fulfilled' | 'rejected';
    readonly result: Promise<IteratorResult<StateBatch>>;
  };
  const read = (): Read => {
    const next: Read = { state: 'pending', result: iterator.next() };
    // Tracks the read without awaiting it; also keeps a read still pending when the consumer
    // leaves from becoming an unhandled rejection.
    next.result.then(
      () => (next.state = 'fulfilled'),
      () => (next.state = 'rejected'),
    );
    return next;
  };
  let pending: Read | undefined;
  for (;;) {
    // After a large group, the next batch is read only now, once that group was applied.
    pending ??= read();
    const first = await pending.result;
    if (first.done) return;
    const group = [first.value];
    let rows = rowsOf(first.value);
    let bytes = approximateBatchBytes(first.value);
    pending = bytes < MAX_GROUP_BYTES ? read() : undefined;
    while (pending && group.length < MAX_GROUP_BATCHES && rows < MAX_GROUP_ROWS) {
      // One turn of the event loop lets a batch that already arrived reach the iterator.
      await new Promise<void>((resolve) => setImmediate(resolve));
      // A failed read is thrown by the next group's first await, after this group is applied.
      if (pending.state !== 'fulfilled') break;
      const next = await pending.result;
      if (next.done) break;
      group.push(next.value);
      rows += rowsOf(next.value);
      bytes += approximateBatchBytes(next.value);
      pending = bytes < MAX_GROUP_BYTES ? read() : undefined;
    }
    yield group;
  }
}

/** What a batch's progress event needs once its records are applied and let go. */
function summaryOf(batch: StateBatch) {
  const { remaining, checkpoint, caughtUp, reset } = batch;
  return { remaining, checkpoint, caughtUp, reset };
}

/** Hands out a group's batches, removing each from the group as it goes. */
function* drain<T>(group: T[]): Generator<T> {
  for (let next = group.shift(); next !== undefined; next = group.shift()) yield next;
}

/**
 * Pulls a peer's library into `library`: handshake, then every type from its own watermark in
 * dependency order, one batch at a time (each applied with its watermark in one transaction),
 * then optionally follows live. A type whose data is rejected (malformed batch, HLC drift) is
 * reported and skipped; the others go on. Transport failures error the Observable: resubscribe
 * to resume from the watermarks.
 */
export function syncFromPeer$(
  library: Library,
  transport: SyncTransport,
  options: SyncOptions = {},
): Observable<SyncEvent> {
  const wanted = new Set(options.types ?? RESOURCE_NAMES);
  const types = RESOURCE_NAMES.filter((name) => wanted.has(name));
  const watermarks = new ResourceWatermarkStore(library.db.read);
  const { libraryId, deviceId, epoch } = library.identity;
  const cursorFor =
    options.cursorFor ??
    (async (peerDeviceId: string, name: ResourceName): Promise<ResourceCursor> => {
      const mark = await watermarks.get(peerDeviceId, name);
      return { epoch: mark?.peerEpoch ?? '', seq: mark?.lastSeq ?? 0, commitId: mark?.peerCommit ?? '' };
    });
  const prefixes = new OriginPrefixStore(library.db.read);
  // Repair (adoptOwnRows) wants every row back, its own included.
  const filtering = (options.originFilter ?? true) && !options.adoptOwnRows;
  const heldFor =
    options.heldFor ??
    (async (name: ResourceName): Promise<OriginPrefix[]> => [
      // A server refuses a cursor with more than MAX_HELD_PREFIXES claims (INVALID_ARGUMENT),
      // and a hub hands over a claim on every lineage it knows: send the largest ones only.
      // Leaving a claim out only costs transfer (those rows are sent, and skipped as older).
      ...toWire(
        (await prefixes.forType(name))
          .filter((prefix) => !(prefix.origin === deviceId && prefix.epoch === epoch))
          .sort((x, y) => y.seq - x.seq)
          .slice(0, MAX_HELD_PREFIXES - 1),
      ),
      // Its own lineage: by last-writer-wins it holds every version it wrote, or a greater one.
      { origin: deviceId, epoch, seq: WHOLE_LINEAGE },
    ]);

  const connect$ = async (): Promise<SyncEvent & { kind: 'connected' }> => {
    const heads = await resourceHeads(library.db.read);
    const sentAtMs = library.clock.wallNow();
    const handshake = await transport.handshake({
      libraryId,
      deviceId,
      epoch,
      protocolVersion: ProtocolVersion.PROTOCOL_VERSION_1,
      heads,
      sentAtMs,
    });
    const receivedAtMs = library.clock.wallNow();
    if (handshake.libraryId !== libraryId) {
      throw new TidemarkError(
        'LIBRARY_MISMATCH',
        `peer serves library ${handshake.libraryId}, not ${libraryId}`,
      );
    }
    // Both are stored (cursors, peer heads) and the epoch is sent back in later requests.
    const badHandshake = !isUuid(handshake.deviceId)
      ? `device_id ${JSON.stringify(String(handshake.deviceId).slice(0, 40))} must be a lowercase hyphenated UUID`
      : validateEpoch(handshake.epoch);
    if (badHandshake) throw new MalformedBatchError(`the peer's handshake is malformed: ${badHandshake}`);
    if (handshake.deviceId === deviceId) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        'the peer is this device itself; point --peer at another node',
      );
    }
    // A server that predates the field sends 0: no estimate then.
    const clockOffset =
      handshake.serverTimeMs > 0
        ? offsetFromRoundTrip(handshake.deviceId, sentAtMs, receivedAtMs, handshake.serverTimeMs)
        : undefined;
    const stored = await watermarks.forPeer(handshake.deviceId);
    const previous = [...stored.values()].find(
      (mark) => mark.peerEpoch && mark.peerEpoch !== handshake.epoch,
    );
    await library.db.writeTransaction(async (sql) => {
      if (previous) {
        // Epoch changed: the peer's database was recreated or restored, so its seqs mean
        // something else now. Restart every type of that peer from 0 rather than skip anything.
        await new ResourceWatermarkStore(sql).resetPeer(handshake.deviceId, handshake.epoch, Date.now());
      }
      await new PeerHeadStore(sql).record(handshake.deviceId, handshake.heads, Date.now());
      if (clockOffset) await new PeerClockStore(sql).record(clockOffset);
    });
    return {
      kind: 'connected',
      peerDeviceId: handshake.deviceId,
      peerEpoch: handshake.epoch,
      handshake,
      resetFromEpoch: previous?.peerEpoch,
      ...(clockOffset ? { clockOffset } : {}),
      maxDriftMs: library.clock.maxDriftMs,
    };
  };

  /** Batch sizes asked of a peer per type, once its batches were too large (TARGET_BATCH_BYTES). */
  const smallerBatches = new Map<string, number>();

  const pullType = (
    peerDeviceId: string,
    name: ResourceName,
    phase: 'backfill' | 'follow',
    emit: (event: SyncEvent) => void,
    signal: AbortSignal,
    /** Ends this pull so that it is asked again (with a smaller batch size, say). */
    restart: () => void,
  ) =>
    (async () => {
      // The claims are read BEFORE the cursor. A claim forgotten between the two reads rewinds
      // this peer's cursor in the same transaction: read first, the claim is in the request, and
      // the batches are refused (StaleFilterError) and asked again from the rewound cursor. Read
      // after, the request would carry the old cursor without the claim, nothing would be refused,
      // and its apply would move the cursor back up past the rows left out under the claim.
      // Claims older than the cursor are only fewer: prefixes grow unless forgotten.
      const held = filtering ? await heldFor(name) : [];
      const cursor = await cursorFor(peerDeviceId, name);
      // Cancels the stream when this pull ends for any reason, including a read still pending
      // (which an iterator's return() would wait for) after a batch was rejected.
      const local = new AbortController();
      const stop = () => local.abort();
      signal.addEventListener('abort', stop, { once: true });
      const stream = transport.streamState(
        {
          libraryId,
          deviceId,
          cursors: [
            {
              resourceType: resourceTypeOf(name),
              epoch: cursor.epoch,
              seq: cursor.seq,
              commitId: cursor.commitId ?? '',
              held,
            },
          ],
          batchSize: smallerBatches.get(`${peerDeviceId} ${name}`) ?? options.batchSize ?? 0,
          follow: phase === 'follow',
        },
        local.signal,
      );
      const batches$ = readyGroups(stream[Symbol.asyncIterator]());
      const started = Date.now();
      let totalReceived = 0;
      let totalWritten = 0;
      let batches = 0;
      try {
        for await (const group of batches$) {
          const summaries = group.map(summaryOf);
          let smaller: number | undefined;
          for (const batch of group) {
            const rows = smallerBatchSize(batch);
            if (rows !== undefined) smaller = Math.min(smaller ?? rows, rows);
          }
          const { results, failure } = await applyBatches(library, peerDeviceId, drain(group), {
            adoptOwnRows: options.adoptOwnRows,
            // An injected policy's claims are not the stored ones: nothing to compare them with.
            requestedHeld: options.heldFor ? undefined : held,
          });
          results.forEach((result, index) => {
            const batch = summaries[index];
            totalReceived += result.received;
            totalWritten += result.written;
            batches += 1;
            const seconds = Math.max((Date.now() - started) / 1000, 0.001);
            emit({
              kind: 'batch',
              resourceType: name,
              phase,
              received: result.received,
              written: result.written,
              totalReceived,
              totalWritten,
              batches,
              remaining: batch.remaining,
              rowsPerSecond: totalReceived / seconds,
              watermarkSeq: result.watermarkSeq,
              checkpointHlc: batch.checkpoint?.hlc,
              caughtUp: batch.caughtUp,
              reset: batch.reset,
              beyondDrift: result.beyondDrift,
              maxAheadMs: result.maxAheadMs,
              skippedAfterRemoval: result.skippedAfterRemoval,
              ownRowsSkipped: result.ownRowsSkipped,
              byOrigin: result.byOrigin,
              heldSkipped: result.heldSkipped,
            });
          });
          if (results.length < summaries.length) throw failure;
          if (signal.aborted) break;
          if (smaller !== undefined) {
            // Applied; the rest comes again from the cursor, in batches of fewer rows.
            smallerBatches.set(`${peerDeviceId} ${name}`, smaller);
            restart();
            break;
          }
        }
      } finally {
        signal.removeEventListener('abort', stop);
        local.abort();
      }
    })();

  /**
   * Pulls one type (backfill or follow); when another peer's batch raised what this device holds
   * of it, the stream is asked again from the stored cursor with the new prefixes (at most every
   * `refilterEveryMs`), so this peer stops sending what arrived elsewhere: a relay that caught up
   * on an origin while this pull ran, or live rows that came directly. The cursor is the only
   * state a restart keeps: rows in flight are not applied and come again, or are left out.
   */
  const pullRefiltered = async (
    peerDeviceId: string,
    name: ResourceName,
    phase: 'backfill' | 'follow',
    emit: (event: SyncEvent) => void,
    signal: AbortSignal,
    /** Pulls the peer's membership again; true when an ADD of every one of `writers` is stored then. */
    catchUpMembership?: (writers: readonly string[]) => Promise<boolean>,
  ) => {
    const every = options.refilterEveryMs ?? 250;
    const gate = filtering && phase === 'follow' ? options.backfillGate : undefined;
    while (!signal.aborted) {
      // A follow stream pauses while another peer backfills its type (BackfillGate.whenIdle).
      await gate?.whenIdle(name, signal);
      if (signal.aborted) return;
      const restart = new AbortController();
      const stop = () => restart.abort();
      signal.addEventListener('abort', stop, { once: true });
      const paused = gate?.onBusy(name, stop);
      const startedAt = Date.now();
      let timer: NodeJS.Timeout | undefined;
      // Asked again only once this request delivered a batch. Claims rise on every page of each
      // origin's own stream (own-lineage coverage), so a stream asked again whenever they rose
      // could be cancelled every `every` ms before its first batch arrived, again and again,
      // and deliver nothing (a mesh's live phase starved whole streams this way).
      let claimsRose = false;
      let delivered = false;
      const askAgainSoon = () => {
        if (timer || !claimsRose || !delivered) return;
        timer = setTimeout(() => restart.abort(), Math.max(0, startedAt + every - Date.now()));
      };
      const raised = filtering
        ? library.prefixesRaised$.subscribe((event) => {
            if (event.resourceType !== name || event.peerDeviceId === peerDeviceId) return;
            claimsRose = true;
            askAgainSoon();
          })
        : undefined;
      const emitting = (event: SyncEvent) => {
        emit(event);
        if (event.kind !== 'batch') return;
        delivered = true;
        askAgainSoon();
      };
      try {
        await pullType(peerDeviceId, name, phase, emitting, restart.signal, stop);
      } catch (error) {
        // Rows of a device the peer admitted after this device pulled its membership (an ADD
        // and the rows it admits reached the peer while this sync ran): the membership pulled
        // again brings the ADD, and the type is asked again. A catch-up that brings nothing
        // leaves the rows refused: the peer holds no ADD of their writer. Each retry needs a
        // writer that had no ADD to have one now, so a forger's rows are not asked for again.
        const admitted =
          error instanceof UnknownWriterError &&
          catchUpMembership !== undefined &&
          (await catchUpMembership(error.writers));
        // A claim the request sent was forgotten meanwhile: ask again with the claims as they are.
        if (!admitted && !(error instanceof StaleFilterError)) throw error;
        restart.abort();
      } finally {
        paused?.();
        raised?.unsubscribe();
        clearTimeout(timer);
        signal.removeEventListener('abort', stop);
      }
      // The stream ended without a restart: caught up (backfill), or the peer ended it (follow).
      if (!restart.signal.aborted) return;
    }
  };

  return new Observable<SyncEvent>((subscriber) => {
    let stopped = false;
    const abort = new AbortController();
    const emit = (event: SyncEvent) => {
      if (!stopped) subscriber.next(event);
    };
    const failed: ResourceName[] = [];
    let followSubscription: { unsubscribe(): void } | undefined;

    const run = async () => {
      const connected = await connect$();
      emit(connected);
      // A server that predates a type (membership) lists no head for it, and would refuse a
      // request for it: such types are left out with that peer.
      const served = new Set(connected.handshake.heads.map((head) => head.resourceType));
      const offered = served.size ? types.filter((name) => served.has(resourceTypeOf(name))) : types;
      const headOf = new Map(
        connected.handshake.heads.map((head) => [head.resourceType, head.rowCount + head.tombstoneCount]),
      );
      // One catch-up at a time per session: the types that wait for the same ADD share it. One
      // that joined a catch-up already under way (asked, perhaps, before the peer stored the ADD
      // it needs) runs one of its own if that did not bring it.
      let catchingUp: Promise<void> | undefined;
      const catchUpMembership = offered.includes('membership')
        ? async (writers: readonly string[]) => {
            for (;;) {
              const joined = catchingUp !== undefined;
              catchingUp ??= pullType(
                connected.peerDeviceId,
                'membership',
                'backfill',
                emit,
                abort.signal,
                () => undefined,
              ).finally(() => (catchingUp = undefined));
              await catchingUp;
              const admitted = await devicesWithAdd(library.db.read, writers);
              if (writers.every((writer) => admitted.has(writer))) return true;
              if (!joined || abort.signal.aborted) return false;
            }
          }
        : undefined;
      const pull = (name: ResourceName, phase: 'backfill' | 'follow', to: (event: SyncEvent) => void) =>
        pullRefiltered(
          connected.peerDeviceId,
          name,
          phase,
          to,
          abort.signal,
          name === 'membership' ? undefined : catchUpMembership,
        );
      for (const name of offered) {
        if (stopped) return;
        const release = await options.backfillGate?.acquire(
          name,
          headOf.get(resourceTypeOf(name)) ?? 0,
          abort.signal,
        );
        // Each batch applied tells the pulls and streams waiting on this one that it still moves.
        const progressed = (event: SyncEvent) => {
          if (event.kind === 'batch') options.backfillGate?.progress(name);
          emit(event);
        };
        try {
          await pull(name, 'backfill', progressed);
        } catch (error) {
          if (!isPerTypeFailure(error)) throw error;
          failed.push(name);
          emit({ kind: 'type_failed', resourceType: name, error });
        } finally {
          release?.();
        }
      }
      emit({ kind: 'backfilled', failed });
      if (!options.follow || stopped) return subscriber.complete();
      // One follow stream per type, so a type whose data is rejected stops alone.
      const followed = offered.filter((name) => !failed.includes(name));
      followSubscription = merge(
        ...followed.map((name) =>
          defer(() =>
            pull(name, 'follow', emit).catch((error: unknown) => {
              if (!isPerTypeFailure(error)) throw error;
              emit({ kind: 'type_failed', resourceType: name, error });
            }),
          ),
        ),
      ).subscribe({
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
    };
    run().catch((error: unknown) => {
      if (!stopped) subscriber.error(error);
    });
    return () => {
      stopped = true;
      abort.abort();
      followSubscription?.unsubscribe();
    };
  });
}
