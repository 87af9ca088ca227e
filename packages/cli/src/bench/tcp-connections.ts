import * as fs from 'node:fs';

/** Inodes of established TCP connections (IPv4 and IPv6) whose remote port is `port`, from /proc. */
function establishedTo(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // sl local_address rem_address st ... uid timeout inode
      if (fields.length < 10) continue;
      const remote = fields[2];
      if (fields[3] !== '01' || !remote.endsWith(`:${hexPort}`)) continue;
      inodes.add(fields[9]);
    }
  }
  return inodes;
}

/**
 * How many established TCP connections process `pid` holds to `port` (a database server's):
 * its socket descriptors matched against the kernel's TCP table. Linux only; undefined elsewhere.
 */
export function tcpConnectionsOf(pid: number, port: number): number | undefined {
  const fdDir = `/proc/${pid}/fd`;
  if (!fs.existsSync(fdDir)) return undefined;
  const wanted = establishedTo(port);
  let count = 0;
  for (const fd of fs.readdirSync(fdDir)) {
    let target: string;
    try {
      target = fs.readlinkSync(`${fdDir}/${fd}`);
    } catch {
      continue; // closed since the listing
    }
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match && wanted.has(match[1])) count += 1;
  }
  return count;
}
