/**
 * The thread behind `DigestThread`: digests resource types of one SQLite file on a read-only
 * connection of its own, so that turning a page of rows into objects and hashing them never runs
 * on the event loop of the process that applies and serves.
 */
import * as sqlite3 from 'sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { digestResource } from '../digest';
import { isTidemarkError } from '../errors';
import { SQLITE_DIALECT } from './dialect';
import type { DigestReply, DigestThreadMessage } from './digest-thread';
import type { SqlRunner } from './library-database';

const { file, busyTimeoutMs } = workerData as { file: string; busyTimeoutMs: number };
const port = parentPort!;

let openError: Error | undefined;
const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (error) => {
  if (error) openError = error;
});
db.configure('busyTimeout', busyTimeoutMs);

const runner: SqlRunner = {
  dialect: SQLITE_DIALECT,
  query: <Row>(sql: string, params: readonly unknown[] = []) =>
    new Promise<Row[]>((resolve, reject) => {
      if (openError) {
        reject(openError);
        return;
      }
      db.all(sql, params as unknown[], (error, rows) => (error ? reject(error) : resolve(rows as Row[])));
    }),
};

const running = new Map<number, { readonly cancel: AbortController; readonly done: Promise<void> }>();

function reply(message: DigestReply): void {
  port.postMessage(message);
}

function digest(id: number, name: Parameters<typeof digestResource>[1], excludeOrigins: string[]): void {
  const cancel = new AbortController();
  const done = digestResource(runner, name, { excludeOrigins, signal: cancel.signal }).then(
    (result) => reply({ kind: 'digest', id, digest: result }),
    (error: unknown) =>
      reply({
        kind: 'error',
        id,
        code: isTidemarkError(error) ? error.code : 'STORAGE',
        message: error instanceof Error ? error.message : String(error),
      }),
  );
  running.set(id, { cancel, done: done.finally(() => running.delete(id)) });
}

port.on('message', (message: DigestThreadMessage) => {
  if (message.kind === 'digest') digest(message.id, message.name, message.excludeOrigins);
  else if (message.kind === 'cancel') running.get(message.id)?.cancel.abort();
  else {
    // Close: stop every scan at its next page, then let go of the file and end the thread.
    const scans = [...running.values()];
    for (const scan of scans) scan.cancel.abort();
    void Promise.all(scans.map((scan) => scan.done)).then(() => db.close(() => port.close()));
  }
});
