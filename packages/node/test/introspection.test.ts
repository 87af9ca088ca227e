import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SYNC_SERVICE_NAME } from '@tidemark/proto';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';
import { RunningNode } from '../src';
import { createMemberFiles, removeTempDirs, startTestNode } from './helpers';

const REFLECTION_PROTO = path.join(
  path.dirname(require.resolve('@grpc/reflection/package.json')),
  'build/proto/grpc/reflection/v1/reflection.proto',
);

/** A service's client constructor from a loaded package, e.g. "grpc.health.v1.Health". */
function serviceClient(file: string, name: string): grpc.ServiceClientConstructor {
  const loaded: unknown = grpc.loadPackageDefinition(
    protoLoader.loadSync(file, { keepCase: true, enums: String }),
  );
  let current = loaded;
  for (const part of name.split('.')) {
    current =
      typeof current === 'object' || typeof current === 'function'
        ? (current as grpc.GrpcObject)[part]
        : undefined;
  }
  if (typeof current !== 'function') throw new Error(`${name} not found in ${file}`);
  return current as grpc.ServiceClientConstructor;
}

let node: RunningNode;

beforeAll(async () => {
  const [file] = await createMemberFiles(1);
  node = await startTestNode(file);
});

afterAll(async () => {
  await node?.close();
  removeTempDirs();
});

test('grpc.health.v1 answers SERVING for the server and the sync service', async () => {
  const Health = serviceClient(HEALTH_PROTO, 'grpc.health.v1.Health');
  const client = new Health(node.address, grpc.credentials.createInsecure());
  const check = Health.service.Check;
  const ask = (service: string) =>
    new Promise<unknown>((resolve, reject) =>
      client.makeUnaryRequest(
        check.path,
        check.requestSerialize,
        check.responseDeserialize,
        { service },
        (error, value) => (error ? reject(error) : resolve(value)),
      ),
    );
  try {
    await expect(ask('')).resolves.toEqual({ status: 'SERVING' });
    await expect(ask(SYNC_SERVICE_NAME)).resolves.toEqual({ status: 'SERVING' });
    await expect(ask('no.such.Service')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  } finally {
    client.close();
  }
});

test('server reflection lists the sync and health services and describes the sync service', async () => {
  const Reflection = serviceClient(REFLECTION_PROTO, 'grpc.reflection.v1.ServerReflection');
  const client = new Reflection(node.address, grpc.credentials.createInsecure());
  const info = Reflection.service.ServerReflectionInfo;
  const call = client.makeBidiStreamRequest(info.path, info.requestSerialize, info.responseDeserialize);
  const responses: unknown[] = [];
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (response: unknown) => responses.push(response));
    call.on('end', resolve);
    call.on('error', reject);
  });
  call.write({ list_services: '*' });
  call.write({ file_containing_symbol: SYNC_SERVICE_NAME });
  call.end();
  await done;
  client.close();

  const [list, file] = responses as [
    { list_services_response: { service: { name: string }[] } },
    { file_descriptor_response: { file_descriptor_proto: Buffer[] } },
  ];
  const names = list.list_services_response.service.map((service) => service.name);
  expect(names).toEqual(expect.arrayContaining([SYNC_SERVICE_NAME, 'grpc.health.v1.Health']));
  const descriptors = file.file_descriptor_response.file_descriptor_proto.map((bytes) =>
    Buffer.from(bytes).toString('latin1'),
  );
  // proto-loader names the descriptor after the package; what matters is that it describes the
  // service with the .proto's own (snake_case) field names.
  const sync = descriptors.find((text) => text.includes('tidemark.sync.v1') && text.includes('StreamState'));
  expect(sync).toBeDefined();
  expect(sync).toContain('library_id');
  expect(sync).not.toContain('libraryId');
});

test('a busy port fails startNode with INVALID_ARGUMENT (choose another --listen) and leaves nothing open', async () => {
  const [file] = await createMemberFiles(1);
  await expect(startTestNode(file, { listen: node.address })).rejects.toMatchObject({
    code: 'INVALID_ARGUMENT',
    message: expect.stringContaining(`cannot listen on ${node.address}: the address is in use`),
  });
  // The library was closed again: a node can open it now.
  const other = await startTestNode(file);
  await other.close();
});
