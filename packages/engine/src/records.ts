import { Record as WireRecord, Tombstone } from '@tidemark/proto';
import { decodeHlc } from './hlc';
import { AnyRecord, ResourceName, resourceTypeOf } from './resource-types';
import { columnsOf, RESOURCE_TABLES, recordValueOf, StoredRow, StoredValues } from './store/resource-tables';

/** Turns a stored row into its typed record message. */
export function recordFromRow(name: ResourceName, row: StoredRow): AnyRecord {
  return recordFromValues(
    name,
    columnsOf(RESOURCE_TABLES[name]).map((column) => row[column]),
  );
}

/**
 * Turns a row's values, in `columnsOf` order, into its typed record message: serving reads pages
 * as value arrays and builds records straight from them, with no keyed object per row.
 */
export function recordFromValues(name: ResourceName, values: StoredValues): AnyRecord {
  const { fields } = RESOURCE_TABLES[name];
  const record: { [field: string]: unknown } = { uuid: values[0] };
  for (let index = 0; index < fields.length; index++) {
    const field = fields[index];
    const value = values[index + 1];
    record[field.field] = recordValueOf(field.kind, value);
  }
  record.hlc = decodeHlc(String(values[fields.length + 1]));
  record.origin = values[fields.length + 2];
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
    // Filled in by serving, which knows the lineage's epoch.
    originSeq: 0,
    originEpoch: '',
  };
}
