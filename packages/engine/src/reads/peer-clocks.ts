import { PeerClockOffset, PeerClockStore } from '../peer-clocks';
import { ReadScope, runnerOf } from './scope';

/** Each peer's clock offset from this device's, as last estimated at a handshake, by peer. */
export async function readPeerClocks(scope: ReadScope): Promise<PeerClockOffset[]> {
  return new PeerClockStore(await runnerOf(scope)).all();
}
