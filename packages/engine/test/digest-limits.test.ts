/**
 * A digest costs one scan per distinct type, however the request is written, and stops when
 * its caller goes away (docs/security.md, "Limits").
 */
import { ResourceType } from '@tidemark/proto';
import { createLibrary, removeTempDirs } from './fixtures';
import { digestResource } from '../src/digest';
import { Library } from '../src/library';
import { SqlRunner } from '../src/store/library-database';
import { LibrarySyncService } from '../src/sync-service';
import { writeSyntheticLibrary } from '../src/testing/synthetic';

let library: Library;

beforeAll(async () => {
  library = await createLibrary();
  // Three pages of entries (a page is 5,000 rows).
  await writeSyntheticLibrary(library, {
    volumes: 1,
    locations: 1,
    entries: 12_000,
    entriesPerTransaction: 4_000,
  });
});

afterAll(async () => {
  await library.close();
  removeTempDirs();
});

test('a type listed a thousand times is digested once', async () => {
  const service = new LibrarySyncService(library);
  const response = await service.digest({
    libraryId: library.identity.libraryId,
    resourceTypes: [
      ...new Array<ResourceType>(1_000).fill(ResourceType.RESOURCE_TYPE_ENTRY),
      ResourceType.RESOURCE_TYPE_TAG,
    ],
    excludeOrigins: [],
  });
  expect(response.digests.map((digest) => digest.resourceType)).toEqual([
    ResourceType.RESOURCE_TYPE_ENTRY,
    ResourceType.RESOURCE_TYPE_TAG,
  ]);
});

test('an aborted digest stops at the next page instead of scanning the whole type', async () => {
  const controller = new AbortController();
  let pages = 0;
  const counting: SqlRunner = {
    dialect: library.db.dialect,
    query: (sql, params) => {
      pages += 1;
      // The caller leaves while the first page is read.
      controller.abort();
      return library.db.read.query(sql, params);
    },
  };
  // UNAVAILABLE, as the digest thread says it (store/digest-thread.ts): the caller went away.
  await expect(digestResource(counting, 'entry', { signal: controller.signal })).rejects.toMatchObject({
    code: 'UNAVAILABLE',
    message: 'the digest was cancelled by its caller',
  });
  expect(pages).toBe(1);
  // The service passes its signal down.
  const service = new LibrarySyncService(library);
  await expect(
    service.digest(
      { libraryId: library.identity.libraryId, resourceTypes: [], excludeOrigins: [] },
      { signal: controller.signal },
    ),
  ).rejects.toMatchObject({ message: expect.stringMatching(/cancelled/) });
});
