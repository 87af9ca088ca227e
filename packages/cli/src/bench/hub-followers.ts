/**
 * The load generator of `npm run bench -- --hub`, run as a child process (`fork`): many
 * followers, each a real @grpc/grpc-js client with its own member certificate and its own TLS
 * connection to one of the hub's node processes. The parent drives it phase by phase over IPC
 * (hub-load.ts); every phase is bounded in time.
 */
import * as grpc from '@grpc/grpc-js';
import {
  Cursor,
  HandshakeResponse,
  ResourceType,
  StateBatch,
  StateRequest,
  SyncServiceClient,
} from '@tidemark/proto';
import {
  FOLLOW_TYPES,
  FollowerSpec,
  LoadCommand,
  LoadReply,
  MARK,
  monotonicMs,
  SLICE_TYPES,
  SliceResult,
} from './hub-protocol';

const TLS_NAME = 'tidemark';

interface Follower {
  readonly spec: FollowerSpec;
  readonly client: SyncServiceClient;
  handshake?: HandshakeResponse;
  follow?: grpc.ClientReadableStream<StateBatch>;
  /** [commit index, arrival ms] of every marked entry the follow stream delivered. */
  arrivals: [number, number][];
}

function clientOf(spec: FollowerSpec, hubCertPem: string): SyncServiceClient {
  // The hub's self-signed certificate is the only root: the connection is to the hub or fails.
  const credentials = grpc.credentials.createSsl(
    Buffer.from(hubCertPem),
    Buffer.from(spec.keyPem),
    Buffer.from(spec.certPem),
    { checkServerIdentity: () => undefined },
  );
  return new SyncServiceClient(spec.address, credentials, {
    'grpc.ssl_target_name_override': TLS_NAME,
    'grpc.default_authority': TLS_NAME,
    'grpc.max_receive_message_length': 20 * 1024 * 1024,
    // The keepalive a node's own peer sessions use (packages/node grpc-options.ts).
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    // One connection per follower, as separate devices have.
    'grpc.use_local_subchannel_pool': 1,
  });
}

function handshakeOnce(follower: Follower, libraryId: string): Promise<HandshakeResponse> {
  return new Promise((resolve, reject) =>
    follower.client.handshake(
      {
        libraryId,
        deviceId: follower.spec.deviceId,
        epoch: '',
        protocolVersion: 1,
        heads: [],
        sentAtMs: Date.now(),
      },
      new grpc.Metadata(),
      // Every follower connects at once, as after a hub restart: the node answers them in turn.
      { deadline: new Date(Date.now() + 15 * 60_000) },
      (error, response) => (error ? reject(error) : resolve(response)),
    ),
  );
}

/** Handshakes that failed UNAVAILABLE and were tried again, as a device's session would. */
let handshakeRetries = 0;
const HANDSHAKE_ATTEMPTS = 10;

async function handshake(follower: Follower, libraryId: string): Promise<HandshakeResponse> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await handshakeOnce(follower, libraryId);
    } catch (error) {
      const code = (error as grpc.ServiceError).code;
      if (code !== grpc.status.UNAVAILABLE || attempt >= HANDSHAKE_ATTEMPTS) throw error;
      handshakeRetries += 1;
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** Math.min(attempt, 5)));
    }
  }
}

/** The small types from 0, then the entries of one location's seq range; cancelled at its end. */
function backfillSlice(follower: Follower, libraryId: string, batchSize: number): Promise<SliceResult> {
  const { spec } = follower;
  const epoch = follower.handshake!.epoch;
  const cursors: Cursor[] = [
    ...SLICE_TYPES.map((resourceType) => ({ resourceType, epoch: '', seq: 0, held: [], commitId: '' })),
    { resourceType: ResourceType.RESOURCE_TYPE_ENTRY, epoch, seq: spec.fromSeq, held: [], commitId: '' },
  ];
  const request: StateRequest = {
    libraryId,
    cursors,
    batchSize,
    follow: false,
    deviceId: spec.deviceId,
  };
  const started = monotonicMs();
  return new Promise((resolve, reject) => {
    const call = follower.client.streamState(request, { deadline: new Date(Date.now() + 30 * 60_000) });
    let rows = 0;
    let entries = 0;
    const locations = new Map<string, number>();
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      const main = Math.max(0, ...locations.values());
      resolve({
        rows,
        entries,
        mainLocationShare: entries ? main / entries : 1,
        ms: monotonicMs() - started,
      });
    };
    call.on('data', (batch: StateBatch) => {
      // Batches the server sent ahead before the cancel arrived are not part of the slice.
      if (settled) return;
      rows += batch.records.length + batch.tombstones.length;
      if (batch.resourceType !== ResourceType.RESOURCE_TYPE_ENTRY) return;
      for (const record of batch.records) {
        if (record.kind?.$case !== 'entry') continue;
        const entry = record.kind.value;
        entries += 1;
        if (entry.sizeBytes < MARK)
          locations.set(entry.locationUuid, (locations.get(entry.locationUuid) ?? 0) + 1);
      }
      if ((batch.checkpoint?.seq ?? 0) >= spec.toSeq || batch.remaining === 0) {
        finish();
        call.cancel();
      }
    });
    call.on('error', (error: grpc.ServiceError) => {
      if (error.code === grpc.status.CANCELLED && settled) return;
      settled = true;
      reject(error);
    });
    call.on('end', finish);
  });
}

/** A follow stream of every type from `heads`; resolves once every type is caught up. */
function startFollow(
  follower: Follower,
  libraryId: string,
  epoch: string,
  heads: readonly { resourceType: ResourceType; seq: number }[],
): Promise<void> {
  const request: StateRequest = {
    libraryId,
    cursors: FOLLOW_TYPES.map((resourceType) => ({
      resourceType,
      epoch,
      seq: heads.find((head) => head.resourceType === resourceType)?.seq ?? 0,
      held: [],
      commitId: '',
    })),
    batchSize: 0,
    follow: true,
    deviceId: follower.spec.deviceId,
  };
  return new Promise((resolve, reject) => {
    const call = follower.client.streamState(request);
    follower.follow = call;
    const caughtUp = new Set<ResourceType>();
    let following = false;
    call.on('data', (batch: StateBatch) => {
      const now = monotonicMs();
      if (batch.resourceType === ResourceType.RESOURCE_TYPE_ENTRY) {
        for (const record of batch.records) {
          const size = record.kind?.$case === 'entry' ? record.kind.value.sizeBytes : 0;
          if (size >= MARK) follower.arrivals.push([size - MARK, now]);
        }
      }
      if (batch.caughtUp) caughtUp.add(batch.resourceType);
      if (!following && caughtUp.size === FOLLOW_TYPES.length) {
        following = true;
        resolve();
      }
    });
    call.on('error', (error: grpc.ServiceError) => {
      if (error.code === grpc.status.CANCELLED) return;
      if (!following) reject(error);
      else process.stderr.write(`follower ${follower.spec.index}: follow stream failed: ${error.message}\n`);
    });
  });
}

const followers: Follower[] = [];
let libraryId = '';

async function run(command: LoadCommand): Promise<LoadReply> {
  switch (command.cmd) {
    case 'connect': {
      libraryId = command.libraryId;
      for (const spec of command.followers) {
        followers.push({ spec, client: clientOf(spec, command.hubCertPem), arrivals: [] });
      }
      await Promise.all(
        followers.map(async (follower) => (follower.handshake = await handshake(follower, libraryId))),
      );
      return { cmd: 'connect', followers: followers.length, handshakeRetries };
    }
    case 'follow': {
      await Promise.all(
        followers.map(async (follower) => {
          follower.arrivals = [];
          await startFollow(follower, libraryId, command.epoch, command.heads);
        }),
      );
      return { cmd: 'follow', followers: followers.length };
    }
    case 'arrivals':
      return {
        cmd: 'arrivals',
        arrivals: followers.map((follower) => follower.arrivals.length),
      };
    case 'stop-follow': {
      const arrivals = followers.map((follower) => follower.arrivals);
      for (const follower of followers) {
        follower.follow?.cancel();
        follower.follow = undefined;
      }
      return { cmd: 'stop-follow', latencyArrivals: arrivals };
    }
    case 'backfill': {
      const results = await Promise.all(
        followers.map((follower) => backfillSlice(follower, libraryId, command.batchSize)),
      );
      return { cmd: 'backfill', slices: results };
    }
    case 'close':
      for (const follower of followers) {
        follower.follow?.cancel();
        follower.client.close();
      }
      return { cmd: 'close' };
  }
}

process.on('message', (command: LoadCommand) => {
  run(command).then(
    (reply) => {
      process.send!(reply, () => {
        if (command.cmd === 'close') process.exit(0);
      });
    },
    (error: unknown) =>
      process.send!({ cmd: 'error', message: error instanceof Error ? error.message : String(error) }),
  );
});
// A parent that dies must not leave followers behind.
process.on('disconnect', () => process.exit(0));
