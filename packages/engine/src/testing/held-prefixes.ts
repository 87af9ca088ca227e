import { Library } from '../library';
import { OriginPrefixStore } from '../origin-prefixes';
import { ResourceName } from '../resource-types';

/** A claim as a test reads it: this library holds every version `origin` wrote in `epoch` up to `seq`. */
export interface HeldClaim {
  readonly origin: string;
  readonly epoch: string;
  readonly seq: number;
}

/**
 * The origin prefixes (claims) a library holds of one type, as its next request would send them
 * (docs/architecture.md, "Origin-aware serving"), without its own current lineage.
 */
export async function heldPrefixes(library: Library, name: ResourceName): Promise<HeldClaim[]> {
  const held = await new OriginPrefixStore(library.db.read).forType(name);
  return held.map(({ origin, epoch, seq }) => ({ origin, epoch, seq }));
}
