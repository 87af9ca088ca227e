import { InitialSchema1732600000000 } from './0001-initial-schema';
import { LegacyGlobalWatermark1732700000000 } from './0002-legacy-global-watermark';
import { PeerHeads1732800000000 } from './0003-peer-heads';
import { MembersInvites1732900000000 } from './0004-members-invites';
import { FileIdentity1733000000000 } from './0005-file-identity';
import { Clocks1733100000000 } from './0006-clocks';
import { SignedMembership1733200000000 } from './0007-signed-membership';
import { CommitIds1733300000000 } from './0008-commit-ids';
import { OriginPrefixes1733400000000 } from './0009-origin-prefixes';
import { SkippedRowsOrigin1733500000000 } from './0010-skipped-rows-origin';
import { EntryFileIds1733600000000 } from './0011-entry-file-ids';
import { OwnLineageUnordered1733700000000 } from './0012-own-lineage-unordered';

/**
 * Every migration of the library schema, oldest first. TypeORM orders them by the 13-digit
 * timestamp that ends each class name (and `name`), not by this list.
 */
export const LIBRARY_MIGRATIONS = [
  InitialSchema1732600000000,
  LegacyGlobalWatermark1732700000000,
  PeerHeads1732800000000,
  MembersInvites1732900000000,
  FileIdentity1733000000000,
  Clocks1733100000000,
  SignedMembership1733200000000,
  CommitIds1733300000000,
  OriginPrefixes1733400000000,
  SkippedRowsOrigin1733500000000,
  EntryFileIds1733600000000,
  OwnLineageUnordered1733700000000,
] as const;
