import * as fs from 'node:fs';

interface TcpEntry {
  readonly localPort: string;
  readonly remotePort: string;
  readonly inode: string;
}

/** Established TCP connections (IPv4 and IPv6) from the kernel's tables, ports in hex. */
function establishedConnections(): TcpEntry[] {
  const entries: TcpEntry[] = [];
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
      if (fields[3] !== '01') continue;
      const port = (address: string) => address.slice(address.lastIndexOf(':') + 1);
      entries.push({ localPort: port(fields[1]), remotePort: port(fields[2]), inode: fields[9] });
    }
  }
  return entries;
}

const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');

/** Socket inodes process `pid` holds open. */
function socketsOf(pid: number): Set<string> {
  const sockets = new Set<string>();
  const fdDir = `/proc/${pid}/fd`;
  let fds: string[];
  try {
    fds = fs.readdirSync(fdDir);
  } catch {
    return sockets;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`${fdDir}/${fd}`));
      if (match) sockets.add(match[1]);
    } catch {
      // closed since the listing
    }
  }
  return sockets;
}

/**
 * The processes at the other end of `pid`'s connections to `port` on this machine: the database
 * server's backends serving that process (PostgreSQL forks one per connection). Needs permission
 * to read their /proc entries (the same user, or root).
 */
export function serverProcessesOf(pid: number, port: number): number[] {
  const connections = establishedConnections();
  const mine = socketsOf(pid);
  const clientPorts = new Set(
    connections
      .filter((entry) => entry.remotePort === hex(port) && mine.has(entry.inode))
      .map((entry) => entry.localPort),
  );
  const serverInodes = new Set(
    connections
      .filter((entry) => entry.localPort === hex(port) && clientPorts.has(entry.remotePort))
      .map((entry) => entry.inode),
  );
  if (!serverInodes.size) return [];
  const found: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === pid) continue;
    for (const inode of socketsOf(Number(name))) {
      if (serverInodes.has(inode)) {
        found.push(Number(name));
        break;
      }
    }
  }
  return found;
}

/**
 * How many established TCP connections process `pid` holds to `port` (a database server's):
 * its socket descriptors matched against the kernel's TCP table. Linux only; undefined elsewhere.
 */
export function tcpConnectionsOf(pid: number, port: number): number | undefined {
  if (!fs.existsSync(`/proc/${pid}/fd`)) return undefined;
  const mine = socketsOf(pid);
  return establishedConnections().filter((entry) => entry.remotePort === hex(port) && mine.has(entry.inode))
    .length;
}
