import { StateBatch } from '@tidemark/proto';
import { lastValueFrom, toArray } from 'rxjs';
import { resourceTypeOf } from '../src/resource-types';
import { LibrarySyncService } from '../src/sync-service';
import { libraryOfTagsForFile } from './scenario-helpers';

const TAGS = 5;

const tags = libraryOfTagsForFile(TAGS);

function serveTags(epoch: string, seq: number, type = resourceTypeOf('tag')): Promise<StateBatch[]> {
  const service = new LibrarySyncService(tags.library);
  return lastValueFrom(
    service
      .streamState({
        libraryId: tags.library.identity.libraryId,
        cursors: [{ resourceType: type, epoch, seq, commitId: '', held: [] }],
        batchSize: 0,
        follow: false,
        deviceId: '',
      })
      .pipe(toArray()),
  );
}

const rowsOf = (batches: StateBatch[]) => batches.reduce((sum, batch) => sum + batch.records.length, 0);

test('a seq without an epoch is served from 0, and the first batch says reset because the position is discarded', async () => {
  const batches = await serveTags('', 3);
  expect(batches.map((batch) => batch.reset)).toEqual([true]);
  expect(rowsOf(batches)).toBe(TAGS);
  expect(batches[0].checkpoint?.epoch).toBe(tags.library.identity.epoch);
});

test('the reset is announced even when the type is empty: one empty caught-up batch with reset', async () => {
  const batches = await serveTags('', 7, resourceTypeOf('collection'));
  expect(batches).toEqual([
    expect.objectContaining({ records: [], tombstones: [], reset: true, caughtUp: true }),
  ]);
});

test('only a cursor that had a position is reset: a fresh ("", 0) cursor is not', async () => {
  const batches = await serveTags('', 0);
  expect(batches.map((batch) => batch.reset)).toEqual([false]);
  expect(rowsOf(batches)).toBe(TAGS);
});

test('a foreign epoch is reset whatever its seq, and the server own epoch resumes without reset', async () => {
  for (const seq of [0, 3]) {
    const foreign = await serveTags(crypto.randomUUID(), seq);
    expect({ seq, reset: foreign.map((batch) => batch.reset), rows: rowsOf(foreign) }).toEqual({
      seq,
      reset: [true],
      rows: TAGS,
    });
  }
  const head = (await serveTags('', 0))[0].checkpoint!.seq;
  const own = await serveTags(tags.library.identity.epoch, head - 2);
  expect({ reset: own.map((batch) => batch.reset), rows: rowsOf(own) }).toEqual({ reset: [false], rows: 2 });
});
