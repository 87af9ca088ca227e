import { forgetEntryFileIds, Library, readEntryPlaces } from '@tidemark/engine';
import { exclusionsUnder } from './exclusions';
import { indexLocation, IndexOptions, IndexSummary, realDirectory } from './index-location';
import { absoluteIn, GoneEntry, isGone } from './moved-entries';

/** Gone entries kept across the runs of one command, about 150 bytes each; beyond, deleted at once. */
const MAX_KEPT = 50_000;
/** Deletions per write transaction in the last step. */
const DELETES_PER_TRANSACTION = 5_000;

interface Kept extends GoneEntry {
  /** The summary of the run that found it gone: its location, root and counts. */
  readonly run: IndexSummary;
}

/**
 * Indexes several locations in one go (`tidemark index A B`), so that a file moved between two
 * of them keeps its entry whichever is indexed first: entries found gone (with an inode) are kept
 * until every location has been walked, where a later location's run can claim them as moved in;
 * then those still stored where they were found, and still gone from disk, are deleted. One
 * location is indexed exactly as `indexLocation` does.
 */
export async function indexLocations(
  library: Library,
  inputs: readonly string[],
  options: IndexOptions = {},
): Promise<IndexSummary[]> {
  if (inputs.length === 1) return [await indexLocation(library, inputs[0], options)];
  // Every folder is checked before any is indexed: a typo in the last refuses the command whole.
  for (const input of inputs) await realDirectory(input);
  // Left out of a location's walk (the library's own directory or files): gone as far as an
  // index goes, as a single location's run takes it, though the path is there.
  const excluded = (root: string, absolute: string) =>
    exclusionsUnder(root, options.exclude).some(
      (left) => absolute === left || absolute.startsWith(`${left}/`),
    );
  const kept: Kept[] = [];
  /** The uuids in `kept`: a location given twice (`tidemark index A A`) finds the same ones gone again. */
  const keptUuids = new Set<string>();
  const summaries: IndexSummary[] = [];
  for (const input of inputs) {
    const found: GoneEntry[] = [];
    const summary = await indexLocation(library, input, {
      ...options,
      keepGone: (gone) => {
        if (keptUuids.has(gone.uuid)) return true;
        if (kept.length + found.length >= MAX_KEPT) return false;
        found.push(gone);
        keptUuids.add(gone.uuid);
        return true;
      },
    });
    kept.push(...found.map((gone) => ({ ...gone, run: summary })));
    summaries.push(summary);
  }
  for (let start = 0; start < kept.length; start += DELETES_PER_TRANSACTION) {
    const chunk = kept.slice(start, start + DELETES_PER_TRANSACTION);
    const deleted = await library.write(async (tx) => {
      // Not those another run claimed as moved, nor those whose path holds something again.
      const places = await readEntryPlaces(
        tx,
        chunk.map((gone) => gone.uuid),
      );
      const doomed = chunk.filter((gone) => {
        const place = places.get(gone.uuid);
        return (
          place?.locationUuid === gone.run.locationUuid &&
          place.relativePath === gone.relativePath &&
          (isGone(gone.run.path, gone.relativePath) ||
            excluded(gone.run.path, absoluteIn(gone.run.path, gone.relativePath)))
        );
      });
      for (const gone of doomed) await tx.delete('entry', gone.uuid);
      await forgetEntryFileIds(
        tx,
        doomed.map((gone) => gone.uuid),
      );
      return doomed;
    });
    for (const gone of deleted) gone.run.deleted++;
    for (const run of new Set(deleted.map((gone) => gone.run))) run.transactions++;
  }
  return summaries;
}
