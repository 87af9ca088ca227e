import { isTidemarkError, TidemarkErrorCode } from '@tidemark/engine';

/**
 * Exit codes of `tidemark`, documented in the README. Scripts branch on them, so they never
 * change meaning.
 */
export const EXIT = {
  OK: 0,
  /** verify found differences; doctor found a problem. */
  DIFFERENT: 1,
  /** Bad flags or arguments, or a request this device refuses as it stands (removing itself). */
  USAGE: 2,
  /**
   * Something named on the command line does not exist (the library, a folder to index, a tag or
   * collection, an indexed file, an invite or device id), or a name to create is taken (init's
   * library, a tag or collection name).
   */
  LIBRARY: 3,
  /** The peer could not be reached, went away or rate-limited us, or its address is not a Tidemark node. */
  UNAVAILABLE: 4,
  /** The peer serves another library, or refused this device. */
  DENIED: 5,
  /** The peer sent data this device rejected (a malformed batch). */
  REJECTED: 6,
  /** Anything else: a bug or a broken database. */
  INTERNAL: 70,
} as const;

const BY_CODE: { [C in TidemarkErrorCode]: number } = {
  INVALID_ARGUMENT: EXIT.USAGE,
  NOT_FOUND: EXIT.LIBRARY,
  ALREADY_EXISTS: EXIT.LIBRARY,
  UNAVAILABLE: EXIT.UNAVAILABLE,
  CLOSED: EXIT.UNAVAILABLE,
  LIBRARY_MISMATCH: EXIT.DENIED,
  UNAUTHENTICATED: EXIT.DENIED,
  INVITE_REJECTED: EXIT.DENIED,
  FORBIDDEN_ROWS: EXIT.REJECTED,
  // Retry later, like a peer that is unavailable.
  RATE_LIMITED: EXIT.UNAVAILABLE,
  FAILED_PRECONDITION: EXIT.USAGE,
  UNSUPPORTED_VERSION: EXIT.DENIED,
  MALFORMED_BATCH: EXIT.REJECTED,
  STORAGE: EXIT.INTERNAL,
  INTERNAL: EXIT.INTERNAL,
};

export function exitCodeFor(error: unknown): number {
  return isTidemarkError(error) ? BY_CODE[error.code] : EXIT.INTERNAL;
}
