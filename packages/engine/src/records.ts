import { Record as WireRecord, Tombstone } from '@tidemark/proto';
import { decodeHlc } from './hlc';
import { AnyRecord, ResourceName, resourceTypeOf } from './resource-types';
import { RESOURCE_TABLES, StoredRow } from './store/resource-tables';

/** Turns a stored row into its typed record message. */
export function recordFromRow(name: ResourceName, row: StoredRow): AnyRecord {
  const table = RESOURCE_TABLES[name];
  const record: { [field: string]: unknown } = { uuid: row.uuid };
  for (const field of table.fields) {
    const value = row[field.column];
    record[field.field] =
      field.kind === 'count' || field.kind === 'entry_kind' ? Number(value) : String(value ?? '');
  }
  record.hlc = decodeHlc(String(row.hlc));
  record.origin = row.origin;
  return record as unknown as AnyRecord;
}

/** Wraps a record in the wire `Record` oneof of its type. */
export function wrapRecord(name: ResourceName, record: AnyRecord): WireRecord {
  return { kind: { $case: RESOURCE_TABLES[name].recordCase, value: record } as WireRecord['kind'] };
}

/** The record inside a wire `Record`, when it is of the expected type. */
export function unwrapRecord(name: ResourceName, wire: WireRecord): AnyRecord | undefined {
  return wire.kind?.$case === RESOURCE_TABLES[name].recordCase ? wire.kind.value : undefined;
}

export function tombstoneFromRow(name: ResourceName, row: StoredRow): Tombstone {
  return {
    resourceType: resourceTypeOf(name),
    uuid: String(row.uuid),
    hlc: decodeHlc(String(row.hlc)),
    origin: String(row.origin),
  };
}
