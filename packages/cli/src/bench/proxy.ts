import * as net from 'node:net';

/**
 * A TCP relay that counts the bytes going each way. Put between B and A it measures what the
 * sync really costs on the wire: protobuf StateBatches plus gRPC and HTTP/2 framing.
 */
export class CountingProxy {
  /** Bytes from the target (the serving node) to the client. */
  downstreamBytes = 0;
  upstreamBytes = 0;
  private readonly sockets = new Set<net.Socket>();
  private targetPort = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static start(targetPort: number): Promise<CountingProxy> {
    return new Promise((resolve, reject) => {
      const server = net.createServer();
      const ready = () => {
        const proxy = new CountingProxy(server, (server.address() as net.AddressInfo).port);
        proxy.targetPort = targetPort;
        server.on('connection', (client) => proxy.relay(client, proxy.targetPort));
        resolve(proxy);
      };
      server.once('error', reject);
      server.listen(0, '127.0.0.1', ready);
    });
  }

  /** Relays new connections to `targetPort` and cuts the open ones: the client reconnects there. */
  retarget(targetPort: number): void {
    this.targetPort = targetPort;
    for (const socket of this.sockets) socket.destroy();
  }

  reset(): void {
    this.downstreamBytes = 0;
    this.upstreamBytes = 0;
  }

  private relay(client: net.Socket, targetPort: number): void {
    const target = net.connect(targetPort, '127.0.0.1');
    for (const socket of [client, target]) {
      socket.setNoDelay(true);
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        target.destroy();
      });
    }
    target.on('data', (chunk: Buffer) => {
      this.downstreamBytes += chunk.length;
    });
    client.on('data', (chunk: Buffer) => {
      this.upstreamBytes += chunk.length;
    });
    target.pipe(client);
    client.pipe(target);
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
