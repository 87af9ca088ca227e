import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TidemarkError } from '@tidemark/engine';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { formatHostPort, HostPort } from './address';

export interface MetricsServer {
  /** Bound "HOST:PORT". */
  readonly address: string;
  close(): Promise<void>;
}

/** Serves `registry` on GET /metrics in the Prometheus text format; everything else is 404. */
export async function startMetricsServer(
  listen: HostPort,
  registry: Registry,
  logger: Logger,
): Promise<MetricsServer> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => response.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (error: unknown) => {
        logger.error({ err: error }, 'collecting metrics failed');
        response.writeHead(500, { 'content-type': 'text/plain' }).end('collecting metrics failed\n');
      },
    );
  });
  // A scraper keeps its connection alive between scrapes; do not let that hold up shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new TidemarkError(
          'UNAVAILABLE',
          `cannot serve metrics on ${formatHostPort(listen)}: ${error.message}`,
        ),
      ),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: formatHostPort({ host: listen.host, port: bound.port }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
