import { FieldsOf } from '@tidemark/engine';
import { StoredEntry } from './stored-entries';
import { WalkedEntry } from './walk';

export type EntryFields = FieldsOf<'entry'>;

/** One walked object, compared with what is stored; `hash` is set when its content must be read. */
export interface Compared {
  readonly walked: WalkedEntry;
  /** The entry stored at the same path, if any. */
  readonly stored: StoredEntry | undefined;
  fields: EntryFields;
  hash: boolean;
  /** The entry, stored at a path now gone, that this object was renamed or moved from. */
  movedFrom?: StoredEntry;
  /** Set when `movedFrom` is an entry of another location of this device (moved in from there). */
  movedFromLocation?: string;
}
