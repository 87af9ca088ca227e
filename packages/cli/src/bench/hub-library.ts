import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createSelfSignedCertificate,
  Library,
  readActiveMembers,
  readResourceHeads,
  signGenesis,
  signMemberAdd,
} from '@tidemark/engine';
import { writeSyntheticLibrary } from '@tidemark/engine/testing';
import {
  createDeviceCredentials,
  DEVICE_KEY_FILE,
  DeviceCredentials,
  deviceSigner,
  identityOf,
  loadDeviceCredentials,
} from '@tidemark/node';
import { ResourceType } from '@tidemark/proto';
import { FollowerSpec } from './hub-protocol';

/** The library a hub bench serves, whichever store holds it. */
export interface HubLibrary {
  readonly store: 'sqlite' | 'postgres';
  /** What `tidemark node --library` is given. */
  readonly libraryArg: string;
  /** Further `tidemark node` arguments (where the hub's key and certificate are). */
  readonly nodeArgs: readonly string[];
  readonly credentials: DeviceCredentials;
  readonly libraryId: string;
  /** One location's entries per follower, as seq ranges (taken when the library was generated). */
  readonly slices: readonly Slice[];
  /** The database server's TCP port (PostgreSQL), to count each node process's connections. */
  readonly databasePort: number | undefined;
  /** The bench's own connection, for the writer and for reading heads. */
  open(): Promise<Library>;
}

export interface Slice {
  readonly fromSeq: number;
  readonly toSeq: number;
}

const SLICES_FILE = 'bench-slices.json';

export function readSlices(dir: string): Slice[] {
  return JSON.parse(fs.readFileSync(path.join(dir, SLICES_FILE), 'utf8')) as Slice[];
}

export interface HubShape {
  readonly volumes: number;
  /** One per follower: each follower backfills one location. */
  readonly locations: number;
  readonly entries: number;
}

export const CACHE = path.join(os.tmpdir(), 'tidemark-bench-cache');
/** Raised whenever the generated hub library changes, so an older cached one is never measured. */
export const LAYOUT_VERSION = 2;

function copyDir(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const name of fs.readdirSync(from)) fs.copyFileSync(path.join(from, name), path.join(to, name));
  fs.chmodSync(path.join(to, DEVICE_KEY_FILE), 0o600);
}

/**
 * Fills a new hub library as `tidemark init` + an indexing run would: the hub's own device
 * writes `shape` through the engine's write path, then founds the signed membership (it is the
 * root), as its first `tidemark invite` does.
 */
export async function fillHubLibrary(
  library: Library,
  credentials: DeviceCredentials,
  shape: HubShape,
  dir: string,
  log: (text: string) => void,
): Promise<void> {
  let reported = 0;
  await writeSyntheticLibrary(library, {
    ...shape,
    onProgress: (type, written, total) => {
      if (type === 'entry' && (written - reported >= 100_000 || written === total)) {
        reported = written;
        log(`generating the hub library: ${written}/${total} entries`);
      }
    },
  });
  await signGenesis(library, deviceSigner(credentials));
  fs.writeFileSync(path.join(dir, SLICES_FILE), JSON.stringify(await locationSlices(library, shape)));
}

/** The SQLite baseline: one library.db with the hub's key beside it, cached per shape. */
export async function prepareSqliteHub(
  workDir: string,
  shape: HubShape,
  fresh: boolean,
  log: (text: string) => void,
): Promise<HubLibrary> {
  const cached = path.join(
    CACHE,
    `hub-v${LAYOUT_VERSION}-${shape.volumes}-${shape.locations}-${shape.entries}`,
  );
  if (fresh || !fs.existsSync(Library.fileIn(cached))) {
    fs.rmSync(cached, { recursive: true, force: true });
    const credentials = createDeviceCredentials(cached, 'tidemark bench-hub');
    const library = await Library.create(Library.fileIn(cached), {
      deviceId: credentials.certificate.deviceId,
      deviceName: 'bench-hub',
    });
    try {
      await fillHubLibrary(library, credentials, shape, cached, log);
    } finally {
      await library.close();
    }
  } else {
    log(`hub library: cached in ${cached}`);
  }
  const dir = path.join(workDir, 'hub-sqlite');
  copyDir(cached, dir);
  const library = await Library.open(Library.fileIn(dir));
  const libraryId = library.identity.libraryId;
  const credentials = loadDeviceCredentials(dir, library.identity.deviceId);
  await library.close();
  return {
    store: 'sqlite',
    libraryArg: dir,
    nodeArgs: [],
    credentials,
    libraryId,
    slices: readSlices(dir),
    databasePort: undefined,
    open: () => Library.open(Library.fileIn(dir)),
  };
}

/** A follower's identity: a key and self-signed certificate, as `tidemark join` makes one. */
export interface FollowerIdentity {
  readonly deviceId: string;
  readonly keyPem: string;
  readonly certPem: string;
  readonly der: Buffer;
}

/**
 * The followers' identities, made once per count and kept in the cache (keys and certificates,
 * mode 0600), so every run admits the same 200 devices: a cached PostgreSQL hub is reused
 * between runs and would otherwise gain 200 members each run.
 */
export function followerIdentities(count: number): FollowerIdentity[] {
  const file = path.join(CACHE, `hub-followers-${count}.json`);
  if (fs.existsSync(file)) {
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { keyPem: string; certPem: string }[];
    if (stored.length === count) return stored.map((one) => identityFrom(one.keyPem, one.certPem));
  }
  const made = Array.from({ length: count }, (_, index) => {
    const { keyPem, certificatePem } = createSelfSignedCertificate(`tidemark bench-follower-${index}`);
    return identityFrom(keyPem, certificatePem);
  });
  fs.mkdirSync(CACHE, { recursive: true });
  const stored = made.map(({ keyPem, certPem }) => ({ keyPem, certPem }));
  fs.writeFileSync(file, JSON.stringify(stored), { mode: 0o600 });
  return made;
}

function identityFrom(keyPem: string, certPem: string): FollowerIdentity {
  const identity = identityOf(certPem);
  return { deviceId: identity.deviceId, keyPem, certPem, der: identity.der };
}

/**
 * Admits every follower that is not a member yet with an ADD signed by the hub (what a
 * completed pairing leaves behind). Returns the library's active members afterwards.
 */
export async function admitFollowers(
  library: Library,
  hub: DeviceCredentials,
  followers: readonly FollowerIdentity[],
): Promise<number> {
  const signer = deviceSigner(hub);
  const members = new Set((await readActiveMembers(library)).map((member) => member.deviceId));
  for (const [index, follower] of followers.entries()) {
    if (!members.has(follower.deviceId))
      await signMemberAdd(library, signer, follower.der, `follower-${index}`);
  }
  return (await readActiveMembers(library)).length;
}

/**
 * One location's entries per follower, as seq ranges: the generator writes the entries one
 * location after the other, each a run of consecutive seqs, so location f is the f-th run of
 * the entry type's seqs (checked by the followers, which count the locations they receive).
 */
async function locationSlices(library: Library, shape: HubShape): Promise<Slice[]> {
  const heads = await readResourceHeads(library);
  const entry = heads.find((head) => head.resourceType === ResourceType.RESOURCE_TYPE_ENTRY);
  if (!entry || entry.rowCount !== shape.entries)
    throw new Error(`the hub library holds ${entry?.rowCount ?? 0} entries, not ${shape.entries}`);
  const first = entry.seq - entry.rowCount + 1;
  const perLocation = Math.ceil(shape.entries / shape.locations);
  return Array.from({ length: shape.locations }, (_, index) => ({
    fromSeq: first - 1 + index * perLocation,
    toSeq: Math.min(entry.seq, first - 1 + (index + 1) * perLocation),
  }));
}

export function followerSpecs(
  identities: readonly FollowerIdentity[],
  slices: readonly Slice[],
  addresses: readonly string[],
): FollowerSpec[] {
  return identities.map((identity, index) => ({
    index,
    address: addresses[index % addresses.length],
    deviceId: identity.deviceId,
    keyPem: identity.keyPem,
    certPem: identity.certPem,
    fromSeq: slices[index].fromSeq,
    toSeq: slices[index].toSeq,
  }));
}
