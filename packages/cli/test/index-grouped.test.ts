import { Entry } from '@tidemark/proto';
import { Library, readEntriesOfLocation, readRecords } from '@tidemark/engine';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IndexOptions, indexLocation, IndexSummary } from '../src/indexer/index-location';
import { removeTempDirs, tempDir } from './harness';

afterAll(removeTempDirs);

/** 10 directories of 20 files; some files share their content. */
function makeTree(root: string): void {
  for (let d = 0; d < 10; d++) {
    fs.mkdirSync(path.join(root, `d${d}`));
    for (let f = 0; f < 20; f++) {
      fs.writeFileSync(path.join(root, `d${d}`, `f${String(f).padStart(2, '0')}`), `${d % 3}/${f}\n`);
    }
  }
}

/**
 * Entries (their parent by path: uuids derive from the location's, which differs between
 * libraries) and content identities of the library, in a stable order.
 */
async function contentsOf(library: Library, summary: IndexSummary) {
  const all: Entry[] = [];
  for await (const entry of readEntriesOfLocation(library, summary.locationUuid)) all.push(entry);
  const pathOf = new Map(all.map((entry) => [entry.uuid, entry.relativePath]));
  const entries = all.map((entry) => [
    entry.relativePath,
    entry.parentUuid === '' ? '' : pathOf.get(entry.parentUuid),
    entry.kind,
    entry.sizeBytes,
    entry.modifiedAtMs,
    entry.contentUuid,
  ]);
  const identities: unknown[] = [];
  for await (const identity of readRecords(library, 'content_identity')) {
    identities.push([identity.uuid, identity.contentHash, identity.sizeBytes, identity.mimeType]);
  }
  identities.sort((a, b) => String(a).localeCompare(String(b)));
  return { entries, identities };
}

async function indexInto(root: string, options: IndexOptions) {
  const library = await Library.create(Library.fileIn(tempDir()));
  try {
    const summary = await indexLocation(library, root, options);
    return { summary, contents: await contentsOf(library, summary) };
  } finally {
    await library.close();
  }
}

test('a first index with transactionRows writes the same rows in fewer transactions; a re-index writes one batch a transaction', async () => {
  const root = tempDir();
  makeTree(root);
  const objects = 10 + 10 * 20;
  const single = await indexInto(root, { batchSize: 5, hashThreads: 0 });
  expect(single.summary).toMatchObject({ added: objects, transactions: Math.ceil(objects / 5) });

  const library = await Library.create(Library.fileIn(tempDir()));
  try {
    const grouped = await indexLocation(library, root, { batchSize: 5, transactionRows: 20, hashThreads: 0 });
    expect(grouped).toMatchObject({ added: objects, contentAdded: single.summary.contentAdded });
    // Batches go into the open transaction only when walked by the time the one before is
    // written, so how many share one varies; never more than 20 entries' worth.
    expect(grouped.transactions).toBeLessThan(single.summary.transactions);
    expect(grouped.transactions).toBeGreaterThanOrEqual(Math.ceil(objects / 20));
    expect(await contentsOf(library, grouped)).toEqual(single.contents);

    // Not a first index: 15 changed files in batches of 5 are 3 transactions.
    for (let f = 0; f < 15; f++)
      fs.writeFileSync(path.join(root, 'd4', `f${String(f).padStart(2, '0')}`), `changed ${f}\n`);
    const again = await indexLocation(library, root, { batchSize: 5, transactionRows: 20, hashThreads: 0 });
    expect(again).toMatchObject({ updated: 15, transactions: 3 });
  } finally {
    await library.close();
  }
});
