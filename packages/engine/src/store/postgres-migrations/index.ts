import { PostgresInitialSchema1764900000000 } from './0001-initial-schema';

/** Every migration of a hub's PostgreSQL schema, oldest first (frozen; add, never edit). */
export const POSTGRES_MIGRATIONS = [PostgresInitialSchema1764900000000] as const;
