import { stableUuid, WriteTransaction } from '@tidemark/engine';
import * as path from 'node:path';
import { putIfChanged } from './put-if-changed';

/**
 * The location row for `realPath` on this device, created or updated as needed. An existing row
 * with the same path keeps its uuid, so entries indexed before stay attached to it.
 */
export async function ensureLocation(
  tx: WriteTransaction,
  realPath: string,
  volumeUuid: string,
): Promise<string> {
  const [existing] = await tx.sql.query<{ uuid: string }>(
    'SELECT uuid FROM locations WHERE device_uuid = ? AND path = ? ORDER BY uuid LIMIT 1',
    [tx.deviceId, realPath],
  );
  const uuid = existing?.uuid ?? stableUuid(`location:${tx.deviceId}:${realPath}`);
  await putIfChanged(tx, 'location', {
    uuid,
    deviceUuid: tx.deviceId,
    volumeUuid,
    path: realPath,
    name: path.basename(realPath) || realPath,
  });
  return uuid;
}
