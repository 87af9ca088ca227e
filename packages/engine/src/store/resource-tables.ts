import { EntryKind, Record as WireRecord } from '@tidemark/proto';
import { TidemarkError } from '../errors';
import type { AnyRecord, ResourceName } from '../resource-types';

/** How a record field is stored and validated. */
export type FieldKind =
  | 'uuid'
  | 'optional_uuid'
  /** Free text (a description): at most 4096 bytes. */
  | 'text'
  /** A name people give or see (device, volume, location): at most 256 bytes, may be empty. */
  | 'label'
  /** A file system path: at most 4096 bytes. */
  | 'path'
  /** A required name (tag, collection): 1 to 256 bytes. */
  | 'name'
  | 'hash'
  | 'count'
  | 'entry_kind'
  /** Bytes on the wire, lowercase hex TEXT in the table. */
  | 'bytes'
  /** A bool on the wire, 0 or 1 in the table. */
  | 'flag'
  | 'membership_action';

export interface FieldSpec {
  /** Property of the generated record message. */
  readonly field: string;
  /** Column of the table. */
  readonly column: string;
  readonly kind: FieldKind;
}

export interface ResourceTable {
  readonly name: ResourceName;
  readonly table: string;
  /** The `Record.kind.$case` of this type on the wire. */
  readonly recordCase: NonNullable<WireRecord['kind']>['$case'];
  /** Data fields, without `uuid`, `hlc`, `origin` (columns common to every table). */
  readonly fields: readonly FieldSpec[];
  /**
   * Device-owned types: the field naming the owning device (`uuid` when the row describes the
   * device itself); absent for shared types. Only the owner writes such a row, so its `origin`
   * must equal this field. The one declaration of ownership: `DEVICE_OWNED`, `ownerOf` and
   * `ownerColumnOf` are derived from it.
   */
  readonly ownerField?: string;
}

const f = (field: string, column: string, kind: FieldKind): FieldSpec => ({ field, column, kind });

export const RESOURCE_TABLES: { readonly [N in ResourceName]: ResourceTable } = {
  // Signed, immutable changes: not device-owned (any member signs changes about any device),
  // authorized by signature instead (membership/accept-changes.ts).
  membership: {
    name: 'membership',
    table: 'membership_changes',
    recordCase: 'membership',
    fields: [
      f('action', 'action', 'membership_action'),
      f('subject', 'subject', 'uuid'),
      f('subjectFingerprint', 'subject_fingerprint', 'hash'),
      f('certificate', 'certificate', 'bytes'),
      f('name', 'name', 'label'),
      f('legacy', 'legacy', 'flag'),
      f('signer', 'signer', 'uuid'),
      f('signature', 'signature', 'bytes'),
    ],
  },
  device: {
    name: 'device',
    table: 'devices',
    recordCase: 'device',
    fields: [f('name', 'name', 'label'), f('os', 'os', 'label')],
    ownerField: 'uuid',
  },
  volume: {
    name: 'volume',
    table: 'volumes',
    recordCase: 'volume',
    fields: [
      f('deviceUuid', 'device_uuid', 'uuid'),
      f('name', 'name', 'label'),
      f('mountPoint', 'mount_point', 'path'),
      f('filesystem', 'filesystem', 'label'),
      f('capacityBytes', 'capacity_bytes', 'count'),
    ],
    ownerField: 'deviceUuid',
  },
  location: {
    name: 'location',
    table: 'locations',
    recordCase: 'location',
    fields: [
      f('deviceUuid', 'device_uuid', 'uuid'),
      f('volumeUuid', 'volume_uuid', 'optional_uuid'),
      f('path', 'path', 'path'),
      f('name', 'name', 'label'),
    ],
    ownerField: 'deviceUuid',
  },
  content_identity: {
    name: 'content_identity',
    table: 'content_identities',
    recordCase: 'contentIdentity',
    fields: [
      f('contentHash', 'content_hash', 'hash'),
      f('sizeBytes', 'size_bytes', 'count'),
      f('mimeType', 'mime_type', 'label'),
    ],
  },
  entry: {
    name: 'entry',
    table: 'entries',
    recordCase: 'entry',
    fields: [
      f('deviceUuid', 'device_uuid', 'uuid'),
      f('locationUuid', 'location_uuid', 'uuid'),
      f('parentUuid', 'parent_uuid', 'optional_uuid'),
      f('relativePath', 'relative_path', 'path'),
      f('kind', 'kind', 'entry_kind'),
      f('sizeBytes', 'size_bytes', 'count'),
      f('modifiedAtMs', 'modified_at_ms', 'count'),
      f('contentUuid', 'content_uuid', 'optional_uuid'),
    ],
    ownerField: 'deviceUuid',
  },
  tag: {
    name: 'tag',
    table: 'tags',
    recordCase: 'tag',
    fields: [f('name', 'name', 'name'), f('color', 'color', 'label')],
  },
  collection: {
    name: 'collection',
    table: 'collections',
    recordCase: 'collection',
    fields: [f('name', 'name', 'name'), f('description', 'description', 'text')],
  },
  tag_assignment: {
    name: 'tag_assignment',
    table: 'tag_assignments',
    recordCase: 'tagAssignment',
    fields: [f('tagUuid', 'tag_uuid', 'uuid'), f('contentUuid', 'content_uuid', 'uuid')],
  },
};

/** The column holding each device-owned type's owner; checked once, when the module loads. */
const OWNER_COLUMN = new Map<ResourceName, string>(
  Object.values(RESOURCE_TABLES).flatMap((table): [ResourceName, string][] => {
    if (table.ownerField === undefined) return [];
    if (table.ownerField === 'uuid') return [[table.name, 'uuid']];
    const owner = table.fields.find((field) => field.field === table.ownerField);
    if (!owner) {
      throw new TidemarkError(
        'INTERNAL',
        `${table.name}: owner field ${table.ownerField} is not one of its fields`,
      );
    }
    return [[table.name, owner.column]];
  }),
);

/** The column naming the owning device of a device-owned type (`uuid` for devices), or undefined. */
export function ownerColumnOf(name: ResourceName): string | undefined {
  return OWNER_COLUMN.get(name);
}

/** The device that owns a record of a device-owned type; undefined for shared types. */
export function ownerOf(
  name: ResourceName,
  record: { readonly [field: string]: unknown },
): string | undefined {
  const field = RESOURCE_TABLES[name].ownerField;
  return field === undefined ? undefined : String(record[field]);
}

// A record rather than a list, so that a new kind cannot compile until it says how it is stored.
const INTEGER_KIND: { readonly [K in FieldKind]: boolean } = {
  uuid: false,
  optional_uuid: false,
  text: false,
  label: false,
  path: false,
  name: false,
  hash: false,
  count: true,
  entry_kind: true,
  bytes: false,
  flag: true,
  membership_action: true,
};

/** Whether a kind is stored as an INTEGER (and read back as a number); every other kind is TEXT. */
export function isIntegerKind(kind: FieldKind): boolean {
  return INTEGER_KIND[kind];
}

/**
 * Column list for SELECT / INSERT, in a fixed order: uuid, data fields, hlc, origin, seq, then
 * where the version comes from (origin seq and origin lineage, docs/architecture.md,
 * "Origin-aware serving").
 */
export function columnsOf(table: ResourceTable): string[] {
  return [
    'uuid',
    ...table.fields.map((field) => field.column),
    'hlc',
    'origin',
    'seq',
    'origin_seq',
    'origin_lineage',
  ];
}

/**
 * The column definition of a field of this kind: what a migration adding a field must write
 * (test/schema-migrations.test.ts holds the migrated schema to it). Migrations never call this;
 * they are frozen SQL.
 */
export function sqlTypeOf(kind: FieldKind): string {
  return isIntegerKind(kind) ? 'INTEGER NOT NULL DEFAULT 0' : "TEXT NOT NULL DEFAULT ''";
}

/** How a value of a kind whose stored form differs from its record form is stored. */
const STORED_FORM: { readonly [K in FieldKind]?: (value: unknown) => string | number } = {
  bytes: (value) => Buffer.from(value as Uint8Array).toString('hex'),
  flag: (value) => (value ? 1 : 0),
};

/** The positions (in the values of `dataValuesOf`) of each table's fields that are converted. */
const CONVERTED = new Map<string, readonly number[]>(
  Object.values(RESOURCE_TABLES).map((table) => [
    table.table,
    table.fields.flatMap((field, index) => (STORED_FORM[field.kind] ? [index + 1] : [])),
  ]),
);

/** Row values of a record, in `columnsOf` order without the trailing hlc/origin/seq. */
export function dataValuesOf(table: ResourceTable, record: AnyRecord): unknown[] {
  const source = record as unknown as { [field: string]: unknown };
  // One array per row, filled in place: this runs for every row a peer sends.
  const values = new Array<unknown>(table.fields.length + 1);
  values[0] = source.uuid;
  for (let index = 0; index < table.fields.length; index++) {
    values[index + 1] = source[table.fields[index].field];
  }
  // Empty for every table but membership's, so the hot paths pay one lookup per row.
  for (const position of CONVERTED.get(table.table)!) {
    values[position] = STORED_FORM[table.fields[position - 1].kind]!(values[position]);
  }
  return values;
}

/** A stored value of a field back in its record form. */
export function recordValueOf(kind: FieldKind, value: string | number | null): unknown {
  switch (kind) {
    case 'bytes':
      return Buffer.from(String(value ?? ''), 'hex');
    case 'flag':
      return Number(value) !== 0;
    default:
      return isIntegerKind(kind) ? Number(value) : String(value ?? '');
  }
}

export type StoredRow = { [column: string]: string | number | null };

/** A stored row's values in `columnsOf` order. */
export type StoredValues = readonly (string | number | null)[];

export { EntryKind };
