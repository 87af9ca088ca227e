import { EntryKind, Hlc, MembershipAction } from '@tidemark/proto';
import { MAX_LOGICAL, MIN_STAMP_PHYSICAL_MS, PHYSICAL_MS_LIMIT } from './hlc';
import { ResourceName } from './resource-types';
import { FieldKind, RESOURCE_TABLES } from './store/resource-tables';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const MAX_TEXT_BYTES = 4096;
export const MAX_NAME_BYTES = 256;
export const MAX_PATH_BYTES = 4096;
export const MAX_HASH_CHARS = 128;
/** A certificate or a signature; a P-256 device certificate is about 400 bytes. */
export const MAX_BYTES = 4096;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/**
 * SQLite keeps a NUL inside TEXT, but node-sqlite3 returns strings cut at the first NUL: a stored
 * value would be served truncated and peers would diverge silently (digests cover versions, not
 * contents). No file name can hold one, so no string field may.
 */
const NUL = '\u0000';

/** C0 controls, DEL and C1 controls: terminal escapes and line breaks have no place in a name or path. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function hasControlCharacter(value: string): boolean {
  return CONTROL.test(value);
}

function checkField(kind: FieldKind, value: unknown): string | undefined {
  if (typeof value === 'string' && value.includes(NUL)) return 'must not contain NUL (U+0000)';
  switch (kind) {
    case 'uuid':
      return isUuid(value) ? undefined : 'must be a lowercase hyphenated UUID';
    case 'optional_uuid':
      return value === '' || isUuid(value) ? undefined : 'must be empty or a lowercase hyphenated UUID';
    case 'text':
      return typeof value === 'string' && Buffer.byteLength(value) <= MAX_TEXT_BYTES
        ? undefined
        : `must be a string of at most ${MAX_TEXT_BYTES} bytes`;
    case 'label':
      return typeof value === 'string' && Buffer.byteLength(value) <= MAX_NAME_BYTES && !CONTROL.test(value)
        ? undefined
        : `must be a string of at most ${MAX_NAME_BYTES} bytes without control characters`;
    case 'path':
      return typeof value === 'string' && Buffer.byteLength(value) <= MAX_PATH_BYTES && !CONTROL.test(value)
        ? undefined
        : `must be a string of at most ${MAX_PATH_BYTES} bytes without control characters`;
    case 'name':
      return typeof value === 'string' &&
        value.length > 0 &&
        Buffer.byteLength(value) <= MAX_NAME_BYTES &&
        !CONTROL.test(value)
        ? undefined
        : `must be a string of 1 to ${MAX_NAME_BYTES} bytes without control characters`;
    case 'hash':
      return typeof value === 'string' && value.length <= MAX_HASH_CHARS
        ? undefined
        : `must be a string of at most ${MAX_HASH_CHARS} characters`;
    case 'count':
      return Number.isSafeInteger(value) && (value as number) >= 0
        ? undefined
        : 'must be a non-negative integer';
    case 'entry_kind':
      return value === EntryKind.ENTRY_KIND_FILE ||
        value === EntryKind.ENTRY_KIND_DIRECTORY ||
        value === EntryKind.ENTRY_KIND_SYMLINK
        ? undefined
        : 'must be FILE, DIRECTORY or SYMLINK';
    case 'bytes':
      return value instanceof Uint8Array && value.length <= MAX_BYTES
        ? undefined
        : `must be at most ${MAX_BYTES} bytes`;
    case 'flag':
      return typeof value === 'boolean' ? undefined : 'must be a bool';
    case 'membership_action':
      return value === MembershipAction.MEMBERSHIP_ACTION_ADD ||
        value === MembershipAction.MEMBERSHIP_ACTION_REMOVE ||
        value === MembershipAction.MEMBERSHIP_ACTION_RENAME
        ? undefined
        : 'must be ADD, REMOVE or RENAME';
  }
}

/** Checks a record's uuid and data fields; returns what is wrong, or undefined. */
export function validateFields(name: ResourceName, record: { [field: string]: unknown }): string | undefined {
  if (!isUuid(record.uuid)) return `uuid ${JSON.stringify(record.uuid)} must be a lowercase hyphenated UUID`;
  for (const field of RESOURCE_TABLES[name].fields) {
    const problem = checkField(field.kind, record[field.field]);
    if (problem)
      return `${field.field} ${problem} (got ${JSON.stringify(record[field.field])?.slice(0, 80)})`;
  }
  return undefined;
}

/** Checks a received row's or tombstone's stamp (see MIN_STAMP_PHYSICAL_MS); returns what is wrong. */
export function validateHlc(hlc: Hlc | undefined): string | undefined {
  if (!hlc) return 'hlc is missing';
  if (
    !Number.isSafeInteger(hlc.physicalMs) ||
    hlc.physicalMs < MIN_STAMP_PHYSICAL_MS ||
    hlc.physicalMs >= PHYSICAL_MS_LIMIT
  ) {
    return `hlc.physical_ms ${hlc.physicalMs} is out of range`;
  }
  if (!Number.isInteger(hlc.logical) || hlc.logical < 0 || hlc.logical > MAX_LOGICAL) {
    return `hlc.logical ${hlc.logical} is out of range 0..${MAX_LOGICAL}`;
  }
  return undefined;
}

/** An epoch (a database's random id) received from a peer: stored, and sent back later. */
export function validateEpoch(epoch: string): string | undefined {
  return isUuid(epoch)
    ? undefined
    : `epoch ${JSON.stringify(String(epoch).slice(0, 40))} must be a lowercase hyphenated UUID`;
}

/** Bytes one field of a kind can take on the wire at most: its bound plus tag and length. */
const MAX_FIELD_WIRE_BYTES: { readonly [K in FieldKind]: number } = {
  uuid: 36 + 2,
  optional_uuid: 36 + 2,
  text: MAX_TEXT_BYTES + 3,
  label: MAX_NAME_BYTES + 3,
  path: MAX_PATH_BYTES + 3,
  name: MAX_NAME_BYTES + 3,
  hash: MAX_HASH_CHARS + 2,
  count: 11,
  entry_kind: 11,
  bytes: MAX_BYTES + 3,
  flag: 2,
  membership_action: 11,
};

/**
 * uuid, hlc and origin of a record, its oneof and its place in the batch, and its origin seq,
 * epoch reference and (at most one per record) origin epoch: generously.
 */
const RECORD_OVERHEAD_BYTES = 256;
/** A tombstone: type, uuid, hlc, origin, origin seq and epoch, and its place in the batch. */
export const MAX_TOMBSTONE_WIRE_BYTES = 256;

/**
 * The most one record of a type can take in an encoded StateBatch when every field is at its
 * bound: what a receiver may expect per row requested, and no more.
 */
export function maxRecordWireBytes(name: ResourceName): number {
  return RESOURCE_TABLES[name].fields.reduce(
    (sum, field) => sum + MAX_FIELD_WIRE_BYTES[field.kind],
    RECORD_OVERHEAD_BYTES,
  );
}
