import { createLogger, startNode } from '@tidemark/node';
import { CountingProxy } from './proxy';
import { FollowResult, followLatency } from './scenarios';
import { NodeProcess } from './node-process';
import { Library } from '@tidemark/engine';

const RECONNECT_TIMEOUT_MS = 60_000;

/**
 * The follow phase's in-process figure: A's file served by a node inside the bench process,
 * whose commits go through that node's own Library (the in-process notification), with B
 * following it through the same proxy. B's connection is cut and goes back to A's process after.
 */
export async function followInProcess(
  aFile: string,
  proxy: CountingProxy,
  aPort: number,
  b: NodeProcess,
  bLibrary: Library,
  seconds: number,
  rate: number,
): Promise<FollowResult> {
  const node = await startNode({
    libraryFile: aFile,
    listen: '127.0.0.1:0',
    insecure: true,
    logger: createLogger({ level: 'silent' }),
  });
  try {
    const port = Number(node.address.slice(node.address.lastIndexOf(':') + 1));
    await following(b, () => proxy.retarget(port));
    return await followLatency(node.library, bLibrary, seconds, rate);
  } finally {
    await following(b, () => proxy.retarget(aPort));
    await node.close();
  }
}

/** Resolves when B, after `cut`, reconnected and follows again. */
async function following(b: NodeProcess, cut: () => void): Promise<void> {
  const from = performance.now();
  cut();
  await b.waitFor(
    (line) => line.at > from && line.msg === 'backfill finished; following',
    RECONNECT_TIMEOUT_MS,
  );
}
