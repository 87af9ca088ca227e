/**
 * One error family for the whole engine. `code` is stable and machine-readable; the message says
 * what happened and, where there is something to do, what to do. The node maps codes to gRPC
 * statuses and the CLI maps them to exit codes, each at its own edge.
 */
export type TidemarkErrorCode =
  | 'INVALID_ARGUMENT'
  | 'LIBRARY_MISMATCH'
  | 'UNAUTHENTICATED'
  /** A pairing invite was unknown, wrong, expired or already used. */
  | 'INVITE_REJECTED'
  /**
   * A batch carried what this library refuses from any peer: rows of a device that never was a
   * member, a membership change that is forged (bad signature, unknown signer), or a row that
   * would take over another device's row.
   */
  | 'FORBIDDEN_ROWS'
  /** Too many failed attempts from one address, or too many open streams; retry later. */
  | 'RATE_LIMITED'
  /** The operation needs something this node does not have (e.g. pairing on an --insecure node). */
  | 'FAILED_PRECONDITION'
  | 'MALFORMED_BATCH'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'UNSUPPORTED_VERSION'
  | 'UNAVAILABLE'
  | 'CLOSED'
  | 'STORAGE'
  | 'INTERNAL';

export class TidemarkError extends Error {
  constructor(
    readonly code: TidemarkErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TidemarkError';
  }
}

/** A batch from a peer broke the contract; it is rejected whole and the watermark stays. */
export class MalformedBatchError extends TidemarkError {
  constructor(message: string) {
    super('MALFORMED_BATCH', message);
    this.name = 'MalformedBatchError';
  }
}

/**
 * A batch was served against claims (`Cursor.held`) this device no longer makes: one was
 * forgotten since the request (docs/architecture.md, "Restored libraries"), so rows the batch
 * left out may not be held. Nothing of it is applied and the cursor stays; the stream is asked
 * again with the claims as they are now.
 */
export class StaleFilterError extends TidemarkError {
  constructor(message: string) {
    super('FAILED_PRECONDITION', message);
    this.name = 'StaleFilterError';
  }
}

export function isTidemarkError(error: unknown): error is TidemarkError {
  return error instanceof TidemarkError;
}
