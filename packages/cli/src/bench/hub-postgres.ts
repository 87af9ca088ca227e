import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DATABASE_LOCATOR_FILE, Library } from '@tidemark/engine';
import { createDeviceCredentials, loadDeviceCredentials } from '@tidemark/node';
import { CACHE, fillHubLibrary, HubLibrary, HubShape, LAYOUT_VERSION, readSlices } from './hub-library';

/** `url` with the connection's schema set (the engine's `?schema=` parameter). */
function withSchema(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('schema', schema);
  return parsed.toString();
}

/**
 * The hub on PostgreSQL: a library directory holding database.json (the URL, with a schema of
 * its own) and the hub's key, cached per shape and server. Every node process of a run opens
 * that one directory, as the processes of a real hub share one key and one database. The
 * schema is kept between runs (generating 1M entries is not what the bench measures); `--fresh`
 * makes a new one and leaves the old one to be dropped by hand.
 */
export async function preparePostgresHub(
  url: string,
  shape: HubShape,
  fresh: boolean,
  log: (text: string) => void,
): Promise<HubLibrary> {
  const server = createHash('sha256').update(url).digest('hex').slice(0, 12);
  const dir = path.join(
    CACHE,
    `hub-pg-v${LAYOUT_VERSION}-${shape.volumes}-${shape.locations}-${shape.entries}-${server}`,
  );
  if (fresh || !fs.existsSync(path.join(dir, DATABASE_LOCATOR_FILE))) {
    fs.rmSync(dir, { recursive: true, force: true });
    const schema = `tidemark_bench_${randomBytes(6).toString('hex')}`;
    log(`hub library: generating into schema ${schema}`);
    const credentials = createDeviceCredentials(dir, 'tidemark bench-hub');
    const library = await Library.create(Library.fileIn(dir), {
      databaseUrl: withSchema(url, schema),
      deviceId: credentials.certificate.deviceId,
      deviceName: 'bench-hub',
    });
    try {
      await fillHubLibrary(library, credentials, shape, dir, log);
    } finally {
      await library.close();
    }
  } else {
    log(`hub library: cached in ${dir} (${DATABASE_LOCATOR_FILE} names its schema)`);
  }
  const library = await Library.open(Library.fileIn(dir));
  const libraryId = library.identity.libraryId;
  const credentials = loadDeviceCredentials(dir, library.identity.deviceId);
  await library.close();
  return {
    store: 'postgres',
    libraryArg: dir,
    nodeArgs: [],
    credentials,
    libraryId,
    slices: readSlices(dir),
    databasePort: Number(new URL(url).port || 5432),
    open: () => Library.open(Library.fileIn(dir)),
  };
}
