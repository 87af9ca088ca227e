import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { PROTO_FILES, PROTO_ROOT, SYNC_SERVICE_NAME } from '@tidemark/proto';
import { HealthImplementation, protoPath as HEALTH_PROTO_PATH } from 'grpc-health-check';

/** The standard health service; "" stands for the server as a whole. */
export function addHealthService(server: grpc.Server): HealthImplementation {
  const health = new HealthImplementation({ '': 'SERVING', [SYNC_SERVICE_NAME]: 'SERVING' });
  health.addToServer(server);
  return health;
}

/** Tells load balancers and `grpc_health_probe` to stop sending work while we shut down. */
export function markNotServing(health: HealthImplementation): void {
  health.setStatus('', 'NOT_SERVING');
  health.setStatus(SYNC_SERVICE_NAME, 'NOT_SERVING');
}

/**
 * Server reflection (v1 and v1alpha), so grpcurl and third-party tooling can discover the sync
 * and health services without a copy of the .proto files. It is built from the same .proto
 * sources the TypeScript stubs were generated from.
 */
export function addReflectionService(server: grpc.Server): void {
  // keepCase: the descriptors must carry the .proto's snake_case field names, which third-party
  // tools use for JSON; proto-loader would camelCase them otherwise.
  const options: protoLoader.Options = { keepCase: true };
  const sync = protoLoader.loadSync([...PROTO_FILES], { ...options, includeDirs: [PROTO_ROOT] });
  const health = protoLoader.loadSync(HEALTH_PROTO_PATH, options);
  new ReflectionService({ ...sync, ...health }).addToServer(server);
}
