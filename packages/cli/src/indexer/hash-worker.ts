/**
 * A hashing thread: receives lists of files, answers with a digest or an error for each, in
 * order. Hashing is CPU work (sha256) and blocking reads, so it runs off the main thread, which
 * walks, compares and writes meanwhile.
 */
import { parentPort } from 'node:worker_threads';
import { hashContentSync } from './content-hash';
import type { HashRequest, HashResponse, HashResult } from './hash-pool';

function hashOne(file: string): HashResult {
  try {
    return hashContentSync(file);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    return { error: error instanceof Error ? error.message : String(error), ...(code ? { code } : {}) };
  }
}

parentPort?.on('message', (request: HashRequest) => {
  const response: HashResponse = { id: request.id, results: request.files.map(hashOne) };
  parentPort?.postMessage(response);
});
