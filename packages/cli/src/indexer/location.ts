import { readLocationsOfDevice, stableUuid, WriteTransaction } from '@tidemark/engine';
import * as path from 'node:path';

/**
 * The location row for `realPath` on this device, created or updated as needed. An existing row
 * with the same path keeps its uuid, so entries indexed before stay attached to it.
 */
export async function ensureLocation(
  tx: WriteTransaction,
  realPath: string,
  volumeUuid: string,
): Promise<string> {
  // Should two rows name this path, the first by uuid (the order locations are read in) is kept.
  const existing = (await readLocationsOfDevice(tx, tx.deviceId)).find(
    (location) => location.path === realPath,
  );
  const uuid = existing?.uuid ?? stableUuid(`location:${tx.deviceId}:${realPath}`);
  await tx.putIfChanged('location', {
    uuid,
    deviceUuid: tx.deviceId,
    volumeUuid,
    path: realPath,
    name: path.basename(realPath) || realPath,
  });
  return uuid;
}
