import pino from 'pino';
import { addMembers, createSelfSignedCertificate, Library, NewMember } from '@tidemark/engine';
import { identityOf } from '../src';
import { removeTempDirs, startTestNode, waitUntil } from './helpers';
import { addMember, addMemberToFile, createSecureDevice, handshakeWith, tlsClient } from './tls-helpers';

afterAll(removeTempDirs);

/**
 * Enough members that their certificates' subjects overflow TLS's 65,535-byte list of acceptable
 * issuers (a member's subject is ~55 bytes DER: the list overflowed at ~1,110 of these), which
 * is where a node sending that list could no longer complete any handshake.
 */
const MEMBERS = 1_500;

function fillerMembers(count: number): NewMember[] {
  return Array.from({ length: count }, (_, index) => {
    const { certificatePem } = createSelfSignedCertificate(`tidemark device-${index}`);
    const { deviceId, fingerprint } = identityOf(certificatePem);
    return { deviceId, fingerprint, certificatePem, name: `device ${index}`, addedBy: 'test' };
  });
}

test(`a node with ${MEMBERS} members completes TLS handshakes, also after a member joins`, async () => {
  const hub = await createSecureDevice();
  const member = await createSecureDevice(hub.libraryId);
  const library = await Library.open(hub.file);
  try {
    await addMembers(library, fillerMembers(MEMBERS));
  } finally {
    await library.close();
  }
  await addMemberToFile(hub.file, member);
  // The node's log says when the membership watch saw a change (the TLS context is replaced
  // then); trying a handshake before that would only count failures against 127.0.0.1.
  const logged: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(line) });
  const node = await startTestNode(hub.file, { insecure: false, membershipCheckMs: 100, logger });
  const clients = [];
  try {
    const client = tlsClient(node.address, member, hub);
    clients.push(client);
    await expect(handshakeWith(client, hub.libraryId)).resolves.toBeDefined();

    // A membership change replaces the server's TLS context: the new one must keep working.
    const late = await createSecureDevice(hub.libraryId);
    await addMember(node.library, late);
    const lateClient = tlsClient(node.address, late, hub);
    clients.push(lateClient);
    await waitUntil(
      async () => logged.some((line) => line.includes('members changed') && line.includes(late.deviceId)),
      'the node to see the member added last',
    );
    await expect(handshakeWith(lateClient, hub.libraryId)).resolves.toBeDefined();
  } finally {
    for (const client of clients) client.close();
    await node.close();
  }
}, 120_000);
