import { Collection } from '@tidemark/proto';
import { ReadScope, runnerOf } from './scope';
import { selectRecords } from './stored-records';

/** Every collection, by name then uuid (a library has few; no paging). */
export async function readCollections(scope: ReadScope): Promise<Collection[]> {
  return selectRecords(await runnerOf(scope), 'collection', 'ORDER BY name, uuid');
}
