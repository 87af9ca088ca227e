import { Library, migrateLegacyMembers, readLibraryRoot } from '@tidemark/engine';
import { DeviceCredentials } from '../tls/device-credentials';
import { deviceSigner } from '../tls/device-signer';

/**
 * A library paired before membership was signed (it has no root) gets its membership as signed
 * changes on the node's first start with its key: this device signs an ADD of itself and of every
 * member it trusted (docs/architecture.md, "Membership"), so no device pairs again. The engine
 * writes nothing when there is nothing to bridge or this device bridged already. A library with a
 * root (founded, or joined since) receives its membership by sync instead. Returns how many
 * changes were written.
 */
export async function bridgeLegacyMembers(library: Library, device: DeviceCredentials): Promise<number> {
  if ((await readLibraryRoot(library)) !== '') return 0;
  return migrateLegacyMembers(library, deviceSigner(device));
}
