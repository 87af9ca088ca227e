import { DigestCheck, DigestCheckStore } from '../digest-checks';
import { ReadScope, runnerOf } from './scope';

/** What the node's anti-entropy last found, per peer and type. */
export async function readDigestChecks(scope: ReadScope): Promise<DigestCheck[]> {
  return new DigestCheckStore(await runnerOf(scope)).all();
}
