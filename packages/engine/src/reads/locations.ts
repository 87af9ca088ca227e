import { Location } from '@tidemark/proto';
import { ReadScope, runnerOf } from './scope';
import { selectRecords } from './stored-records';

/** The locations owned by one device, in uuid order (a device has few; no paging). */
export async function readLocationsOfDevice(scope: ReadScope, deviceId: string): Promise<Location[]> {
  return selectRecords(await runnerOf(scope), 'location', 'WHERE device_uuid = ? ORDER BY uuid', [deviceId]);
}
