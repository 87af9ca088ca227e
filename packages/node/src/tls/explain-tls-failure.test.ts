import * as grpc from '@grpc/grpc-js';
import { fromGrpcError } from '../grpc/grpc-status';
import { explainTlsFailure, SecuredChannel } from './client-security';

const channel: SecuredChannel = {
  secure: true,
  trustedCount: 1,
  credentials: grpc.credentials.createInsecure(),
  options: {},
  checkServedBy: () => undefined,
};

const failure = (peer: string, details: string) =>
  explainTlsFailure(
    fromGrpcError({ code: grpc.status.UNAVAILABLE, details, metadata: new grpc.Metadata() }, peer),
    channel,
  );

test("a refused certificate is said to be one (exit 5); what grpc-js said decides, not the peer's host name", () => {
  expect(
    failure('box:4000', 'No connection established. Last error: Error: self-signed certificate').code,
  ).toBe('UNAUTHENTICATED');
  // The host name holds "ssl": a name that does not resolve is still unreachable (exit 4).
  expect(
    failure('ssl-box.invalid:4000', 'Name resolution failed for target dns:ssl-box.invalid:4000').code,
  ).toBe('UNAVAILABLE');
  // A plaintext server answering TLS (a web server, a node started with --insecure).
  const plaintext = failure(
    'box:4000',
    'No connection established. Last error: Error: 80F8:error:0A00010B:SSL routines:ssl3_get_record:wrong version number',
  );
  expect([plaintext.code, plaintext.message]).toEqual([
    'UNAVAILABLE',
    'peer box:4000 does not answer as a Tidemark node over TLS (wrong version number): check the address and port; a `tidemark node --insecure` is dialed with --insecure',
  ]);
});
