import type { ResourceName, SyncEvent, TidemarkError, TypeComparison } from '@tidemark/engine';

type EngineEvent<K extends SyncEvent['kind']> = Extract<SyncEvent, { kind: K }>;

/**
 * What happens in the session with one configured peer (`peer` is its "HOST:PORT"). Engine
 * events are passed through unchanged inside `connected` and `sync`; the other kinds are the
 * connection's own life cycle.
 */
export type PeerSessionEvent =
  /** A connection attempt starts; `attempt` counts attempts since the last progress. */
  | { readonly kind: 'connecting'; readonly peer: string; readonly attempt: number }
  /** The handshake succeeded; backfill starts. */
  | {
      readonly kind: 'connected';
      readonly peer: string;
      readonly peerDeviceId: string;
      readonly event: EngineEvent<'connected'>;
    }
  /**
   * Engine progress: `batch`, `type_failed` (that type's batch was rejected; it is retried with
   * backoff while the other types go on) and `backfilled`.
   */
  | {
      readonly kind: 'sync';
      readonly peer: string;
      readonly peerDeviceId: string;
      readonly event: EngineEvent<'batch' | 'type_failed' | 'backfilled'>;
    }
  /**
   * Anti-entropy compared every type's digest with the peer's (after the backfill, then at an
   * interval); `differing` names the types still different after a second look.
   */
  | {
      readonly kind: 'digest_check';
      readonly peer: string;
      readonly peerDeviceId: string;
      readonly differing: readonly ResourceName[];
      readonly results: readonly TypeComparison[];
    }
  /** The session ended with `error`; a reconnect follows unless the node is closing. */
  | {
      readonly kind: 'disconnected';
      readonly peer: string;
      readonly peerDeviceId?: string;
      readonly error: TidemarkError;
    }
  /** The next attempt starts after `delayMs`. */
  | {
      readonly kind: 'reconnect_scheduled';
      readonly peer: string;
      readonly attempt: number;
      readonly delayMs: number;
      readonly error: TidemarkError;
    };
