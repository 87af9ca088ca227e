import { StateBatch } from '@tidemark/proto';
import { MAX_TOMBSTONE_WIRE_BYTES } from './validate';

/** A field that is not text nor bytes (numbers, flags, the stamp) and a record's own overhead. */
const SCALAR_BYTES = 16;
const RECORD_BYTES = 128;

/**
 * About the bytes a decoded batch's rows carry: their text and byte fields at one byte a
 * character, plus a little per field and row. Rows at their field bounds (4 KiB paths) carry
 * ~20 times what ordinary rows do, so a count of rows says little about a batch's memory.
 */
export function approximateBatchBytes(batch: StateBatch): number {
  let bytes = batch.tombstones.length * MAX_TOMBSTONE_WIRE_BYTES;
  for (const record of batch.records) {
    bytes += RECORD_BYTES;
    const value = record.kind?.value;
    if (!value) continue;
    for (const field of Object.values(value)) {
      bytes += typeof field === 'string' || field instanceof Uint8Array ? field.length : SCALAR_BYTES;
    }
  }
  return bytes;
}
