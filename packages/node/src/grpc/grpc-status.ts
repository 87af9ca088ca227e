import * as grpc from '@grpc/grpc-js';
import { isTidemarkError, TidemarkError, TidemarkErrorCode } from '@tidemark/engine';

const STATUS_BY_CODE: { readonly [C in TidemarkErrorCode]: grpc.status } = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  LIBRARY_MISMATCH: grpc.status.PERMISSION_DENIED,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  // The details say which: wrong, unknown, expired or already used.
  INVITE_REJECTED: grpc.status.PERMISSION_DENIED,
  FORBIDDEN_ROWS: grpc.status.PERMISSION_DENIED,
  RATE_LIMITED: grpc.status.RESOURCE_EXHAUSTED,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  UNSUPPORTED_VERSION: grpc.status.FAILED_PRECONDITION,
  NOT_FOUND: grpc.status.NOT_FOUND,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  // A closed library means this node is shutting down: the caller should retry elsewhere or later.
  CLOSED: grpc.status.UNAVAILABLE,
  MALFORMED_BATCH: grpc.status.INVALID_ARGUMENT,
  ALREADY_EXISTS: grpc.status.INTERNAL,
  STORAGE: grpc.status.INTERNAL,
  INTERNAL: grpc.status.INTERNAL,
};

/**
 * Longest status detail a server sends, in UTF-16 units. Details quote the value that was wrong,
 * which a request may make up to 1 MiB long, and grpc-message percent-encodes each byte outside
 * printable ASCII as three: trailers past HTTP/2's 64 KiB header block limit are never sent, and
 * the caller then waits for its deadline without a status. 1,024 units encode to at most ~9 KiB.
 */
export const MAX_STATUS_DETAILS = 1_024;

const isHighSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;

/** Details cut in the middle when too long: the start and the end of the sentence both stay. */
function bounded(details: string): string {
  if (details.length <= MAX_STATUS_DETAILS) return details;
  let headEnd = MAX_STATUS_DETAILS / 2 - 32;
  let tailStart = details.length - (MAX_STATUS_DETAILS / 2 - 32);
  // Never between the two halves of a surrogate pair (a lone one is sent as U+FFFD).
  if (isHighSurrogate(details.charCodeAt(headEnd - 1))) headEnd -= 1;
  if (isHighSurrogate(details.charCodeAt(tailStart - 1))) tailStart += 1;
  return `${details.slice(0, headEnd)}…(${tailStart - headEnd} characters cut)…${details.slice(tailStart)}`;
}

/** The gRPC status a server answers for an error thrown by the engine (or anything else). */
export function toGrpcStatus(error: unknown): { code: grpc.status; details: string } {
  if (isTidemarkError(error)) return { code: STATUS_BY_CODE[error.code], details: bounded(error.message) };
  const message = error instanceof Error ? error.message : String(error);
  return { code: grpc.status.INTERNAL, details: bounded(`internal error: ${message}`) };
}

/** Fields of a grpc-js ServiceError, narrowed from unknown. */
export interface GrpcErrorLike {
  readonly code: grpc.status;
  readonly details: string;
}

export function isGrpcError(error: unknown): error is GrpcErrorLike {
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    typeof error.code === 'number' &&
    'details' in error &&
    typeof error.details === 'string'
  );
}

function codeForStatus(code: grpc.status): TidemarkErrorCode {
  switch (code) {
    case grpc.status.PERMISSION_DENIED:
      return 'LIBRARY_MISMATCH';
    case grpc.status.INVALID_ARGUMENT:
      return 'INVALID_ARGUMENT';
    case grpc.status.UNAUTHENTICATED:
      return 'UNAUTHENTICATED';
    case grpc.status.NOT_FOUND:
      return 'NOT_FOUND';
    case grpc.status.ALREADY_EXISTS:
      return 'ALREADY_EXISTS';
    // The peer does not speak this protocol version, or not this service at all.
    case grpc.status.FAILED_PRECONDITION:
    case grpc.status.UNIMPLEMENTED:
      return 'UNSUPPORTED_VERSION';
    // Everything else (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED by the peer or the network,
    // INTERNAL, UNKNOWN, RESOURCE_EXHAUSTED, ...) is a failure of this connection: retry it.
    default:
      return 'UNAVAILABLE';
  }
}

/**
 * What grpc-js or OpenSSL says when the server at the address is not a gRPC server at all (a web
 * server, another service on that port): a plaintext answer to the TLS handshake ("wrong version
 * number", "packet length too long"), an HTTP/1 answer to HTTP/2 ("Protocol error"), or an HTTP
 * response without a gRPC status ("Received HTTP status code 404", which grpc-js would map to
 * UNIMPLEMENTED, or to PERMISSION_DENIED for a 403).
 */
const NOT_GRPC = /wrong version number|packet length too long|Protocol error|Received HTTP status code \d+/i;
/** Of those, what OpenSSL says when a plaintext server (a `tidemark node --insecure`, too) answers TLS. */
const PLAINTEXT_ANSWER = /wrong version number|packet length too long/i;
/**
 * Of those, a gateway's "no server behind me" (bad gateway, unavailable, gateway timeout): what a
 * reverse proxy in front of a node answers while that node is down or restarting. The address
 * may well be right, so the line must not send the user off to change it.
 */
const GATEWAY_ANSWER = /Received HTTP status code (502|503|504)\b/i;

/** Why `message` says the address is not a Tidemark node, or undefined when it does not. */
export function notTidemarkNodeReason(message: string): string | undefined {
  return NOT_GRPC.exec(message)?.[0];
}

/** Turns a failed gRPC call into the engine's error family, naming the peer and the status. */
export function fromGrpcError(error: unknown, peer: string): TidemarkError {
  if (isTidemarkError(error)) return error;
  if (isGrpcError(error)) {
    const notNode = notTidemarkNodeReason(error.details);
    if (notNode !== undefined) {
      // Checked before the status: that was made up by grpc-js from an HTTP status, not sent by a node.
      const gateway = GATEWAY_ANSWER.exec(notNode);
      return new TidemarkError(
        'UNAVAILABLE',
        gateway
          ? `peer ${peer} answered HTTP ${gateway[1]} from a proxy or gateway, not from a node: the node behind it may be down or restarting; try again, or check the proxy`
          : PLAINTEXT_ANSWER.test(notNode)
            ? `peer ${peer} does not answer as a Tidemark node over TLS (${notNode}): check the address and port; a \`tidemark node --insecure\` is dialed with --insecure`
            : `peer ${peer} does not answer as a Tidemark node (${notNode}): check the address and port`,
        { cause: error },
      );
    }
    const name = grpc.status[error.code] ?? String(error.code);
    return new TidemarkError(
      codeForStatus(error.code),
      `peer ${peer}: ${error.details || name} (gRPC ${name})`,
      {
        cause: error,
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new TidemarkError('UNAVAILABLE', `peer ${peer}: ${message}`, { cause: error });
}
