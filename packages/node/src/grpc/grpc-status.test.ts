import * as grpc from '@grpc/grpc-js';
import { MalformedBatchError, TidemarkError, TidemarkErrorCode } from '@tidemark/engine';
import { fromGrpcError, toGrpcStatus } from './grpc-status';

test('TidemarkError codes map to gRPC statuses', () => {
  const cases: [TidemarkErrorCode, grpc.status][] = [
    ['INVALID_ARGUMENT', grpc.status.INVALID_ARGUMENT],
    ['LIBRARY_MISMATCH', grpc.status.PERMISSION_DENIED],
    ['UNAUTHENTICATED', grpc.status.UNAUTHENTICATED],
    ['UNSUPPORTED_VERSION', grpc.status.FAILED_PRECONDITION],
    ['NOT_FOUND', grpc.status.NOT_FOUND],
    ['UNAVAILABLE', grpc.status.UNAVAILABLE],
    ['CLOSED', grpc.status.UNAVAILABLE],
    ['STORAGE', grpc.status.INTERNAL],
  ];
  for (const [code, status] of cases) {
    expect(toGrpcStatus(new TidemarkError(code, `it was ${code}`))).toEqual({
      code: status,
      details: `it was ${code}`,
    });
  }
  expect(toGrpcStatus(new MalformedBatchError('bad')).code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(toGrpcStatus(new Error('boom'))).toEqual({
    code: grpc.status.INTERNAL,
    details: 'internal error: boom',
  });
  expect(toGrpcStatus('weird')).toEqual({ code: grpc.status.INTERNAL, details: 'internal error: weird' });
});

test('gRPC failures become TidemarkErrors naming the peer and the status', () => {
  const failure = (code: grpc.status, details: string) =>
    Object.assign(new Error(details), { code, details });
  const denied = fromGrpcError(failure(grpc.status.PERMISSION_DENIED, 'serves library x'), '10.0.0.2:7070');
  expect(denied).toMatchObject({
    code: 'LIBRARY_MISMATCH',
    message: 'peer 10.0.0.2:7070: serves library x (gRPC PERMISSION_DENIED)',
  });
  for (const status of [
    grpc.status.UNAVAILABLE,
    grpc.status.DEADLINE_EXCEEDED,
    grpc.status.CANCELLED,
    grpc.status.INTERNAL,
    grpc.status.RESOURCE_EXHAUSTED,
  ]) {
    expect(fromGrpcError(failure(status, 'x'), 'p:1').code).toBe('UNAVAILABLE');
  }
  expect(fromGrpcError(failure(grpc.status.INVALID_ARGUMENT, 'x'), 'p:1').code).toBe('INVALID_ARGUMENT');
  expect(fromGrpcError(failure(grpc.status.FAILED_PRECONDITION, 'x'), 'p:1').code).toBe(
    'UNSUPPORTED_VERSION',
  );
  expect(fromGrpcError(new Error('socket hang up'), 'p:1').code).toBe('UNAVAILABLE');
});
