/**
 * A hub: two `tidemark node` processes serving one PostgreSQL library, behind a TCP load
 * balancer. A device (a SQLite node) pairs with the hub and backfills through the balancer;
 * the process serving it is SIGKILLed mid-backfill; the device reconnects, lands on the other
 * process and resumes from its watermarks: nothing lost (digests equal, every row held) and
 * nothing sent twice (every row the device received it applied as new). Needs a PostgreSQL
 * server: TIDEMARK_TEST_PG_URL (`.ci/run` starts one and sets it).
 */
import { randomBytes } from 'node:crypto';
import { FailoverProxy } from './failover-proxy';
import { freePort, NodeProcess, removeTempDirs, runCli, runCliJson, tempDir, waitFor } from './harness';

const PG_URL = process.env.TIDEMARK_TEST_PG_URL;
const ENTRIES = 40_000;
/** Small batches make the backfill many transactions long, so the kill lands inside it. */
const DEVICE_BATCH = 250;

jest.setTimeout(300_000);

/** A PostgreSQL URL with a schema of its own, so test runs never meet. */
function freshSchemaUrl(base: string): string {
  const url = new URL(base);
  url.searchParams.set('schema', `hub_failover_${randomBytes(6).toString('hex')}`);
  return url.toString();
}

async function metrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** A counter summed over every series with these labels. */
function sum(text: string, name: string, labels: { [key: string]: string } = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).some(([key, value]) => !line.includes(`${key}="${value}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

interface VerifyJson {
  readonly equal: boolean;
  readonly types: readonly {
    readonly resourceType: string;
    readonly local: { readonly rows: number; readonly tombstones: number };
    readonly peer: { readonly rows: number; readonly tombstones: number };
  }[];
}

const nodes: NodeProcess[] = [];
let proxy: FailoverProxy | undefined;

afterAll(async () => {
  for (const node of nodes) await node.kill();
  await proxy?.close();
  removeTempDirs();
});

(PG_URL ? test : test.skip)(
  'a device backfilling from one process of a two-process hub resumes from the other after a SIGKILL: nothing lost, nothing sent twice',
  async () => {
    const hubDir = tempDir('tidemark-hub-');
    const created = await runCliJson<{ libraryId: string; deviceId: string; database: string }>([
      'init',
      '--library',
      hubDir,
      '--name',
      'team',
      '--database',
      freshSchemaUrl(PG_URL!),
    ]);
    // The password never reaches the output.
    expect(created.database).not.toMatch(/:[^:@/*]+@/);
    const generated = await runCli([
      'generate',
      '--library',
      hubDir,
      '--volumes',
      '2',
      '--locations',
      '4',
      '--entries',
      String(ENTRIES),
    ]);
    expect(generated.code).toBe(0);

    // Two node processes of one hub: the same directory (so the same key and database), each
    // with its own listen and metrics ports.
    const [port1, port2, metrics1, metrics2] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const first = new NodeProcess(hubDir, port1, [], ['--metrics', `127.0.0.1:${metrics1}`]);
    // The second with a smaller pool: each process bounds its own connections.
    const second = new NodeProcess(
      hubDir,
      port2,
      [],
      ['--metrics', `127.0.0.1:${metrics2}`, '--database-connections', '3'],
    );
    nodes.push(first, second);
    await first.start(false);
    await second.start(false);
    proxy = await FailoverProxy.start([port1, port2]);

    // Pair through the balancer (the first process answers), as a device would.
    const invite = await runCliJson<{ invite: string }>([
      'invite',
      '--library',
      hubDir,
      '--address',
      proxy.address,
    ]);
    const deviceDir = tempDir();
    const joined = await runCli(['join', '--library', deviceDir, '--invite-file', '-'], {
      input: invite.invite + '\n',
    });
    expect(joined.stderr).toBe('');
    expect(joined.code).toBe(0);

    const deviceMetrics = await freePort();
    const device = new NodeProcess(
      deviceDir,
      await freePort(),
      [proxy.address],
      ['--metrics', `127.0.0.1:${deviceMetrics}`, '--batch-size', String(DEVICE_BATCH)],
    );
    nodes.push(device);
    await device.start(false);

    // SIGKILL the first process once the device holds a quarter of the entries.
    let entriesAtKill = 0;
    await waitFor(
      async () => {
        entriesAtKill = sum(await metrics(deviceMetrics), 'tidemark_rows_received_total', {
          resource_type: 'entry',
        });
        return entriesAtKill >= ENTRIES / 4;
      },
      120_000,
      'the device to receive a quarter of the entries',
      10,
    );
    await first.kill();
    expect(entriesAtKill).toBeLessThan(ENTRIES);
    expect(proxy.relayed.get(port2) ?? 0).toBe(0);

    // The device reconnects through the balancer, lands on the second process and finishes.
    await waitFor(
      async () =>
        sum(await metrics(deviceMetrics), 'tidemark_rows_applied_total', { resource_type: 'entry' }) >=
        ENTRIES,
      180_000,
      'the device to hold every entry',
      200,
    ).catch((error: Error) => {
      // A stall is diagnosed from what the processes said, not guessed at.
      const tail = (text: string) => text.slice(-20_000);
      throw new Error(
        `${error.message}\n--- device log (tail) ---\n${tail(device.output)}\n--- second hub process log (tail) ---\n${tail(second.output)}`,
      );
    });
    expect(proxy.relayed.get(port2) ?? 0).toBeGreaterThan(0);
    const served2 = sum(await metrics(metrics2), 'tidemark_rows_served_total', { resource_type: 'entry' });
    expect(served2).toBeGreaterThan(0);
    expect(served2).toBeLessThan(ENTRIES);

    // Nothing lost: every type's digest and counts equal the hub's, asked of the second process.
    const verify = await runCliJson<VerifyJson>(['verify', '--library', deviceDir, '--peer', proxy.address]);
    expect(verify.equal).toBe(true);
    const entryType = verify.types.find((type) => type.resourceType === 'entry');
    expect(entryType?.local.rows).toBe(ENTRIES);

    // Nothing sent twice: every row the device received, over both processes, it applied as new;
    // a row sent again would be received and skipped as already held.
    const text = await metrics(deviceMetrics);
    expect(sum(text, 'tidemark_rows_received_total', { resource_type: 'entry' })).toBe(ENTRIES);
    expect(sum(text, 'tidemark_rows_received_total')).toBe(sum(text, 'tidemark_rows_applied_total'));

    // Live follow across processes: a tag written by another process (this CLI) on the hub
    // reaches the device through the second node, woken by the database's notification.
    const tagged = await runCli(['tag', 'add', '--library', hubDir, 'after-failover']);
    expect(tagged.code).toBe(0);
    await waitFor(
      async () => {
        const tags = await runCliJson<{ name: string }[]>(['tag', 'list', '--library', deviceDir]);
        return tags.some((tag) => tag.name === 'after-failover');
      },
      60_000,
      'the tag written on the hub to reach the device',
      250,
    );
  },
);
