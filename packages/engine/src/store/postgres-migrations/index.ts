import { PostgresInitialSchema1764900000000 } from './0001-initial-schema';
import { PostgresEntryFileIds1764900100000 } from './0002-entry-file-ids';
import { PostgresOwnLineageUnordered1764900200000 } from './0003-own-lineage-unordered';

/** Every migration of a hub's PostgreSQL schema, oldest first (frozen; add, never edit). */
export const POSTGRES_MIGRATIONS = [
  PostgresInitialSchema1764900000000,
  PostgresEntryFileIds1764900100000,
  PostgresOwnLineageUnordered1764900200000,
] as const;
