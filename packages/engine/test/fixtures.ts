import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateLibraryOptions, Library } from '../src';
import { freshTestDatabaseUrl } from '../src/testing';

/**
 * The store the scenario tests run on: `TIDEMARK_TEST_STORE=postgres` (jest.postgres.config.js)
 * makes every library they create through `createLibrary` a hub in its own PostgreSQL schema;
 * the default is SQLite. The same tests run on both.
 */
export const STORE_UNDER_TEST: 'sqlite' | 'postgres' =
  process.env.TIDEMARK_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** Options that put a new library on the store under test (a fresh schema for a hub). */
export function storeOptions(): { databaseUrl?: string } {
  return STORE_UNDER_TEST === 'postgres' ? { databaseUrl: freshTestDatabaseUrl() } : {};
}

/** A stepping wall clock: tests decide what time it is. */
export class TestClock {
  constructor(public ms = Date.UTC(2025, 9, 20, 14, 0, 0)) {}
  readonly now = () => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

const made: string[] = [];

export function tempDir(prefix = 'tidemark-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export async function createLibrary(options: CreateLibraryOptions & { dir?: string } = {}): Promise<Library> {
  const dir = options.dir ?? tempDir();
  return Library.create(Library.fileIn(dir), { ...storeOptions(), ...options });
}

/** Creates `count` member devices of one new library. */
export async function createMembers(count: number, options: CreateLibraryOptions = {}): Promise<Library[]> {
  const first = await createLibrary(options);
  const rest = [];
  for (let i = 1; i < count; i++) {
    rest.push(await createLibrary({ ...options, libraryId: first.identity.libraryId }));
  }
  return [first, ...rest];
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * For each test of a file: two new devices of one library, handed to `use` (with the stepping
 * clock they share when `steppingClock`, else they read the real clock), closed after the test;
 * the temp dirs are removed after the file. Hooks the file registers later run after these.
 */
export function twoDevicesForEachTest(
  use: (a: Library, b: Library, clock: TestClock) => void,
  { steppingClock = false }: { readonly steppingClock?: boolean } = {},
): void {
  const opened: Library[] = [];
  beforeEach(async () => {
    const clock = new TestClock();
    const [a, b] = await createMembers(2, steppingClock ? { clock: { now: clock.now } } : {});
    opened.push(a, b);
    use(a, b, clock);
  });
  afterEach(async () => {
    for (const library of opened.splice(0).reverse()) await library.close();
  });
  afterAll(removeTempDirs);
}
