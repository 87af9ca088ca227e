import * as http from 'node:http';
import * as http2 from 'node:http2';
import { freePort, joinThrough, NodeProcess, removeTempDirs, runCli, runCliJson, tempDir } from './harness';

afterAll(removeTempDirs);

/** `tidemark sync` from `dir` against an HTTP/2 server (not gRPC) that answers every request `status`. */
async function syncAgainstHttp2(dir: string, status: number) {
  const server = http2.createServer((_request, response) => {
    response.writeHead(status);
    response.end();
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = `127.0.0.1:${port}`;
  try {
    return { address, ...(await runCli(['sync', '--library', dir, '--peer', address, '--insecure'])) };
  } finally {
    server.close();
  }
}

/*
 * A plain HTTP server at the peer's address (a wrong port, another service) is not a Tidemark
 * node: every command that dials it exits 4 (could not reach a node there) with one line saying
 * so, not 5 ("not a member"), which would send the user off to re-pair devices.
 */
test('a command dialing an HTTP server that is not a Tidemark node exits 4 and says so', async () => {
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end('hello\n');
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = `127.0.0.1:${port}`;
  const dirA = tempDir();
  const dirB = tempDir();
  await runCliJson(['init', '--library', dirA]);
  const nodeA = new NodeProcess(dirA, await freePort());
  await nodeA.start(false);
  try {
    const issue = (at: string) =>
      runCliJson<{ invite: string }>(['invite', '--library', dirA, '--address', at]);
    await joinThrough(dirA, nodeA, dirB);

    const joinDir = tempDir();
    const commands: [string, string[]][] = [
      ['join', ['join', '--library', joinDir, (await issue(address)).invite]],
      ...['sync', 'verify', 'repair'].flatMap((command): [string, string[]][] => [
        [`${command} (TLS)`, [command, '--library', dirB, '--peer', address]],
        [`${command} --insecure`, [command, '--library', dirB, '--peer', address, '--insecure']],
      ]),
    ];
    for (const [name, args] of commands) {
      const result = await runCli(args);
      expect({ name, code: result.code, stderr: result.stderr }).toEqual({
        name,
        code: 4,
        stderr: expect.stringMatching(
          new RegExp(
            `^tidemark: [^\\n]*${address.replace(/\./g, '\\.')} does not answer as a Tidemark node[^\\n]*\\n$`,
          ),
        ),
      });
    }

    // An HTTP/2 server that is not gRPC: grpc-js makes a 403 into PERMISSION_DENIED ("denied").
    const forbidden = await syncAgainstHttp2(dirB, 403);
    expect({ code: forbidden.code, stderr: forbidden.stderr }).toEqual({
      code: 4,
      stderr: `tidemark: peer ${forbidden.address} does not answer as a Tidemark node (Received HTTP status code 403): check the address and port\n`,
    });

    // A reverse proxy whose node is down answers 502, 503 or 504: the address may be right, so the
    // line says the node behind it may be down, not to check the address.
    const gateway = await syncAgainstHttp2(dirB, 503);
    expect({ code: gateway.code, stderr: gateway.stderr }).toEqual({
      code: 4,
      stderr: `tidemark: peer ${gateway.address} answered HTTP 503 from a proxy or gateway, not from a node: the node behind it may be down or restarting; try again, or check the proxy\n`,
    });
  } finally {
    await nodeA.stop();
    server.close();
  }
});

test('a tidemark node started with --insecure, dialed over TLS: exit 4, and the line says to dial it with --insecure', async () => {
  const [dirA, dirB] = [tempDir(), tempDir()];
  await runCliJson(['init', '--library', dirA]);
  const port = await freePort();
  const paired = new NodeProcess(dirA, port);
  await paired.start(false);
  try {
    await joinThrough(dirA, paired, dirB);
  } finally {
    await paired.stop();
  }
  const insecure = new NodeProcess(dirA, port);
  await insecure.start(true);
  try {
    const result = await runCli(['sync', '--library', dirB, '--peer', insecure.address]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({
      code: 4,
      stderr: expect.stringMatching(
        /^tidemark: peer \S+ does not answer as a Tidemark node over TLS \([^)]+\): check the address and port; a `tidemark node --insecure` is dialed with --insecure\n$/,
      ),
    });
  } finally {
    await insecure.stop();
  }
});
