import {
  Collection,
  ContentIdentity,
  Device,
  Entry,
  Location,
  MembershipChange,
  ResourceType,
  Tag,
  TagAssignment,
  Volume,
} from '@tidemark/proto';
import { TidemarkError } from './errors';
import { ownerColumnOf } from './store/resource-tables';

/** The stable lowercase name of each resource type (CLI, logs, metrics labels, database). */
export type ResourceName =
  | 'membership'
  | 'device'
  | 'volume'
  | 'location'
  | 'content_identity'
  | 'entry'
  | 'tag'
  | 'collection'
  | 'tag_assignment';

/** The record message of each resource type. */
export interface RecordOf {
  membership: MembershipChange;
  device: Device;
  volume: Volume;
  location: Location;
  content_identity: ContentIdentity;
  entry: Entry;
  tag: Tag;
  collection: Collection;
  tag_assignment: TagAssignment;
}

export type AnyRecord = RecordOf[ResourceName];

/** What a local writer supplies: the record without its sync fields, which the write path stamps. */
export type FieldsOf<N extends ResourceName> = Omit<RecordOf[N], 'hlc' | 'origin'>;

/**
 * Dependency order: membership first (a relay then always delivers the membership that
 * authorizes the rows after it), owners before what they own, tags before assignments. Clients
 * backfill in this order so that most references resolve as rows arrive (they need not: rows
 * reference by uuid, so order never breaks integrity).
 */
export const RESOURCE_NAMES: readonly ResourceName[] = [
  'membership',
  'device',
  'volume',
  'location',
  'content_identity',
  'entry',
  'tag',
  'collection',
  'tag_assignment',
];

const TYPE_BY_NAME: { readonly [N in ResourceName]: ResourceType } = {
  membership: ResourceType.RESOURCE_TYPE_MEMBERSHIP,
  device: ResourceType.RESOURCE_TYPE_DEVICE,
  volume: ResourceType.RESOURCE_TYPE_VOLUME,
  location: ResourceType.RESOURCE_TYPE_LOCATION,
  content_identity: ResourceType.RESOURCE_TYPE_CONTENT_IDENTITY,
  entry: ResourceType.RESOURCE_TYPE_ENTRY,
  tag: ResourceType.RESOURCE_TYPE_TAG,
  collection: ResourceType.RESOURCE_TYPE_COLLECTION,
  tag_assignment: ResourceType.RESOURCE_TYPE_TAG_ASSIGNMENT,
};

const NAME_BY_TYPE = new Map<ResourceType, ResourceName>(
  RESOURCE_NAMES.map((name) => [TYPE_BY_NAME[name], name]),
);

/**
 * Device-owned types: only the owning device writes them, so `origin` must equal the owner.
 * Derived from the table descriptors' `ownerField`, the one place ownership is declared.
 */
export const DEVICE_OWNED: ReadonlySet<ResourceName> = new Set(
  RESOURCE_NAMES.filter((name) => ownerColumnOf(name) !== undefined),
);

export function resourceTypeOf(name: ResourceName): ResourceType {
  return TYPE_BY_NAME[name];
}

/** The name of a wire resource type; an unknown or unspecified type is INVALID_ARGUMENT. */
export function resourceNameOf(type: ResourceType): ResourceName {
  const name = NAME_BY_TYPE.get(type);
  if (!name) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `unknown resource type ${type}; expected one of ${RESOURCE_NAMES.map((n) => `${TYPE_BY_NAME[n]} (${n})`).join(', ')}`,
    );
  }
  return name;
}

export function isResourceName(value: string): value is ResourceName {
  return (RESOURCE_NAMES as readonly string[]).includes(value);
}

/** Parses a user-supplied name such as "entry" or "content-identity". */
export function parseResourceName(value: string): ResourceName {
  const normalized = value.trim().toLowerCase().replace(/-/g, '_');
  if (!isResourceName(normalized)) {
    throw new TidemarkError(
      'INVALID_ARGUMENT',
      `unknown resource type "${value}"; expected one of ${RESOURCE_NAMES.join(', ')}`,
    );
  }
  return normalized;
}
