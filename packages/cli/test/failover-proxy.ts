import * as net from 'node:net';

/**
 * A TCP load balancer in front of a hub's node processes, as HAProxy or a Kubernetes service
 * would be: each new connection goes to the first target that accepts it, so once a process is
 * gone its clients reconnect to the next one. TLS passes through untouched (every process of a
 * hub presents the hub's certificate).
 */
export class FailoverProxy {
  /** Connections relayed to each target port. */
  readonly relayed = new Map<number, number>();
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly targets: readonly number[],
  ) {}

  static start(targets: readonly number[]): Promise<FailoverProxy> {
    return new Promise((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const proxy = new FailoverProxy(server, (server.address() as net.AddressInfo).port, targets);
        server.on('connection', (client) => proxy.relay(client, 0));
        resolve(proxy);
      });
    });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private relay(client: net.Socket, attempt: number): void {
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    this.relayTo(client, attempt);
  }

  private relayTo(client: net.Socket, attempt: number): void {
    if (attempt >= this.targets.length) {
      client.destroy();
      return;
    }
    const port = this.targets[attempt];
    const target = net.connect(port, '127.0.0.1');
    // Nothing is read from the client until a target accepted, so a refused target loses nothing.
    client.pause();
    let connected = false;
    target.on('error', () => {
      target.destroy();
      if (connected) client.destroy();
      else this.relayTo(client, attempt + 1);
    });
    target.once('connect', () => {
      connected = true;
      this.relayed.set(port, (this.relayed.get(port) ?? 0) + 1);
      this.sockets.add(target);
      target.once('close', () => {
        this.sockets.delete(target);
        client.destroy();
      });
      client.once('close', () => target.destroy());
      target.pipe(client);
      client.pipe(target);
      client.resume();
    });
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
