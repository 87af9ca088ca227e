import { InitialSchema1732600000000 } from './0001-initial-schema';

/** Every migration of the library schema, oldest first. */
export const LIBRARY_MIGRATIONS = [InitialSchema1732600000000] as const;
