/**
 * A hashing thread: receives lists of files, answers with a digest or an error for each, in
 * order. Hashing is CPU work (sha256) and blocking reads, so it runs off the main thread, which
 * walks, compares and writes meanwhile.
 */
import { parentPort } from 'node:worker_threads';
import { hashContentSync } from './content-hash';
import { digestLine, HashFailure, HashRequest, HashResponse } from './hash-pool';

parentPort?.on('message', (request: HashRequest) => {
  const failures: HashFailure[] = [];
  const lines = request.files.map((file, index) => {
    try {
      return digestLine(hashContentSync(file));
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException;
      const reason = error instanceof Error ? error.message : String(error);
      failures.push({ index, error: reason, ...(code ? { code } : {}) });
      return '';
    }
  });
  const response: HashResponse = { id: request.id, digests: lines.join('\n'), failures };
  parentPort?.postMessage(response);
});
