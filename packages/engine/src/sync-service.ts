import {
  DigestRequest,
  DigestResponse,
  HandshakeRequest,
  HandshakeResponse,
  OriginPrefix,
  ProtocolVersion,
  StateBatch,
  StateRequest,
} from '@tidemark/proto';
import { concat, defer, merge, Observable, tap } from 'rxjs';
import { isCommitIdForm } from './commits';
import { digestOfStore } from './digest';
import { TidemarkError } from './errors';
import { Library } from './library';
import { offsetOneWay, PeerClockStore } from './peer-clocks';
import { RESOURCE_NAMES, ResourceName, resourceNameOf } from './resource-types';
import { isUuid } from './validate';
import { MAX_HELD_PREFIXES } from './origin-prefixes';
import { DEFAULT_RELAY_HOLD_MS } from './relay-hold-back';
import {
  backfillResource$,
  clampBatchSize,
  DEFAULT_BATCH_SIZE,
  MAX_BATCH_SIZE,
  ResourceCursor,
} from './serve';

const MAX_EXCLUDED_ORIGINS = 64;

export interface LibrarySyncServiceOptions {
  /**
   * Follow streams of requesters that send claims hold back, this many ms, the rows this node
   * took from other devices (RelayHoldBack). Default DEFAULT_RELAY_HOLD_MS; 0 turns it off.
   */
  readonly relayHoldMs?: number;
}

export interface StreamStateOptions {
  /** Transport flow control, awaited after each batch (see BackfillOptions.backpressure). */
  readonly backpressure?: () => Promise<void>;
}

/**
 * The serving side of the protocol, independent of any transport: the gRPC server and the
 * in-memory transport both call it. Requests are validated here, with TidemarkError codes that
 * each edge maps to its own status.
 */
export class LibrarySyncService {
  constructor(
    readonly library: Library,
    private readonly options: LibrarySyncServiceOptions = {},
  ) {}

  async handshake(request: HandshakeRequest): Promise<HandshakeResponse> {
    this.checkLibrary(request.libraryId, request.deviceId);
    if (
      request.protocolVersion !== ProtocolVersion.PROTOCOL_VERSION_UNSPECIFIED &&
      request.protocolVersion !== ProtocolVersion.PROTOCOL_VERSION_1
    ) {
      throw new TidemarkError(
        'UNSUPPORTED_VERSION',
        `protocol version ${request.protocolVersion} is not supported; this node speaks version 1`,
      );
    }
    const receivedAtMs = this.library.clock.wallNow();
    const { identity } = this.library;
    const heads = await this.library.heads.read();
    if (request.sentAtMs > 0 && request.deviceId !== '' && request.deviceId !== identity.deviceId) {
      const offset = offsetOneWay(request.deviceId, request.sentAtMs, receivedAtMs);
      await this.library.db.writeTransaction((sql) => new PeerClockStore(sql).recordForKnownDevice(offset));
    }
    return {
      libraryId: identity.libraryId,
      deviceId: identity.deviceId,
      epoch: identity.epoch,
      protocolVersion: ProtocolVersion.PROTOCOL_VERSION_1,
      heads,
      defaultBatchSize: DEFAULT_BATCH_SIZE,
      maxBatchSize: MAX_BATCH_SIZE,
      deviceName: identity.name,
      // Read last, after any wait for the write lock, so that it is as near the answer as can be.
      serverTimeMs: this.library.clock.wallNow(),
    };
  }

  /**
   * Backfills each requested type in request order; with `follow`, then follows all of them at
   * once, each from where its backfill ended.
   */
  streamState(request: StateRequest, options: StreamStateOptions = {}): Observable<StateBatch> {
    this.checkLibrary(request.libraryId, request.deviceId);
    const cursors = this.parseCursors(request);
    const batchSize = clampBatchSize(request.batchSize);
    const positions = new Map<ResourceName, ResourceCursor>(cursors);
    const held = new Map(cursors.map(([name, cursor]) => [name, cursor.held]));
    const { epoch, deviceId } = this.library.identity;
    // A follow request is a live stream, re-asked as the requester's claims rise: both its parts
    // hold back fresh relayed rows, so a re-request does not serve them at once either.
    const relayHoldMs = request.follow ? (this.options.relayHoldMs ?? DEFAULT_RELAY_HOLD_MS) : 0;
    const backfill = concat(
      ...cursors.map(([name, cursor]) =>
        defer(() =>
          backfillResource$(this.library, name, cursor, batchSize, {
            backpressure: options.backpressure,
            held: cursor.held,
            relayHoldMs,
          }).pipe(
            tap((batch) => {
              positions.set(name, {
                epoch,
                seq: batch.checkpoint?.seq ?? 0,
                commitId: batch.checkpoint?.commitId ?? '',
              });
              // A restarted cursor may carry claims of this device's lineage from a history it
              // no longer has: the follow phase leaves them out too (backfillResource$ did).
              if (batch.reset) held.set(name, withoutLineage(held.get(name), deviceId, epoch));
            }),
          ),
        ),
      ),
    );
    if (!request.follow) return backfill;
    const follow = defer(() =>
      merge(
        ...cursors.map(([name]) =>
          backfillResource$(this.library, name, positions.get(name)!, batchSize, {
            follow: true,
            quietCatchUp: true,
            backpressure: options.backpressure,
            held: held.get(name),
            relayHoldMs,
          }),
        ),
      ),
    );
    return concat(backfill, follow);
  }

  /**
   * Digests the requested types, each once however often it is listed (a request listing a
   * type a million times costs one scan), and stops at the next page once `signal` aborts.
   */
  async digest(
    request: DigestRequest,
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<DigestResponse> {
    this.checkLibrary(request.libraryId);
    const names = request.resourceTypes.length
      ? [...new Set(request.resourceTypes.map((type) => resourceNameOf(type)))]
      : [...RESOURCE_NAMES];
    if (request.excludeOrigins.length > MAX_EXCLUDED_ORIGINS || !request.excludeOrigins.every(isUuid)) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `exclude_origins must hold at most ${MAX_EXCLUDED_ORIGINS} lowercase hyphenated UUIDs`,
      );
    }
    const digests = [];
    for (const name of names) {
      digests.push(
        await digestOfStore(this.library.db, name, {
          excludeOrigins: request.excludeOrigins,
          signal: options.signal,
        }),
      );
    }
    return { epoch: this.library.identity.epoch, digests };
  }

  private parseHeld(name: ResourceName, held: readonly OriginPrefix[]): readonly OriginPrefix[] {
    if (held.length > MAX_HELD_PREFIXES) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `cursor for ${name} lists ${held.length} held prefixes; at most ${MAX_HELD_PREFIXES}`,
      );
    }
    const seen = new Set<string>();
    for (const prefix of held) {
      if (!isUuid(prefix.origin) || !isUuid(prefix.epoch)) {
        throw new TidemarkError(
          'INVALID_ARGUMENT',
          `a held prefix for ${name} needs a lowercase hyphenated UUID origin and epoch, not "${prefix.origin}", "${prefix.epoch}"`,
        );
      }
      if (!Number.isSafeInteger(prefix.seq) || prefix.seq < 0) {
        throw new TidemarkError(
          'INVALID_ARGUMENT',
          `held prefix seq ${prefix.seq} for ${name} is out of range`,
        );
      }
      const key = `${prefix.origin}/${prefix.epoch}`;
      if (seen.has(key)) {
        throw new TidemarkError(
          'INVALID_ARGUMENT',
          `held prefix of origin ${prefix.origin} epoch ${prefix.epoch} is listed twice for ${name}`,
        );
      }
      seen.add(key);
    }
    return held;
  }

  private checkLibrary(libraryId: string, deviceId = ''): void {
    if (!isUuid(libraryId)) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `library_id "${libraryId}" must be a lowercase hyphenated UUID`,
      );
    }
    if (deviceId !== '' && !isUuid(deviceId)) {
      throw new TidemarkError(
        'INVALID_ARGUMENT',
        `device_id "${deviceId}" must be empty or a lowercase hyphenated UUID`,
      );
    }
    if (libraryId !== this.library.identity.libraryId) {
      throw new TidemarkError(
        'LIBRARY_MISMATCH',
        `this node serves library ${this.library.identity.libraryId}, not "${libraryId}"`,
      );
    }
  }

  private parseCursors(
    request: StateRequest,
  ): [ResourceName, ResourceCursor & { held: readonly OriginPrefix[] }][] {
    if (request.cursors.length === 0) {
      throw new TidemarkError('INVALID_ARGUMENT', 'a StateRequest needs at least one cursor');
    }
    const seen = new Set<ResourceName>();
    return request.cursors.map((cursor) => {
      const name = resourceNameOf(cursor.resourceType);
      if (seen.has(name))
        throw new TidemarkError('INVALID_ARGUMENT', `resource type ${name} is requested twice`);
      seen.add(name);
      if (!Number.isSafeInteger(cursor.seq) || cursor.seq < 0) {
        throw new TidemarkError('INVALID_ARGUMENT', `cursor seq ${cursor.seq} for ${name} is out of range`);
      }
      // In-process callers may build a cursor without the field; the wire always decodes one.
      const commitId = cursor.commitId ?? '';
      if (!isCommitIdForm(commitId)) {
        throw new TidemarkError(
          'INVALID_ARGUMENT',
          `cursor commit_id for ${name} must be empty or 32 lowercase hex digits, as a checkpoint sent it`,
        );
      }
      return [
        name,
        { epoch: cursor.epoch, seq: cursor.seq, commitId, held: this.parseHeld(name, cursor.held) },
      ];
    });
  }
}

function withoutLineage(
  held: readonly OriginPrefix[] | undefined,
  origin: string,
  epoch: string,
): OriginPrefix[] {
  return (held ?? []).filter((prefix) => !(prefix.origin === origin && prefix.epoch === epoch));
}

export { MAX_BATCH_SIZE };
