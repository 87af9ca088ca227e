import { RecordOf } from '../resource-types';
import { ReadScope, runnerOf } from './scope';
import { selectRecords } from './stored-records';

/** The shared types people find by name. Names are not unique: two devices may each add one. */
export type NamedResourceName = 'tag' | 'collection';

/** The records of a type named exactly `name`, in uuid order (several when devices raced). */
export async function readRecordsNamed<N extends NamedResourceName>(
  scope: ReadScope,
  type: N,
  name: string,
): Promise<RecordOf[N][]> {
  return selectRecords(await runnerOf(scope), type, 'WHERE name = ? ORDER BY uuid', [name]);
}
