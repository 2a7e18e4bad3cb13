// /healthz (the process is alive and not shutting down) and /readyz (every
// registered check passes, e.g. informer caches synced).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReadinessCheck = () => { ok: boolean; message: string };

export interface HealthServer {
  port: number;
  addReadinessCheck(name: string, check: ReadinessCheck): void;
  /** Adds a route, e.g. /metrics from the metrics module. */
  addRoute(path: string, handler: (res: http.ServerResponse) => void | Promise<void>): void;
  markShuttingDown(): void;
  close(): Promise<void>;
}

export async function startHealthServer(options: { port: number; address: string }): Promise<HealthServer> {
  const checks = new Map<string, ReadinessCheck>();
  const routes = new Map<string, (res: http.ServerResponse) => void | Promise<void>>();
  let shuttingDown = false;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = routes.get(path);
    if (route) {
      Promise.resolve(route(res)).catch((error: unknown) => {
        res.writeHead(500).end(String(error));
      });
      return;
    }
    if (path === '/healthz' || path === '/livez') {
      res.writeHead(shuttingDown ? 503 : 200, { 'Content-Type': 'text/plain' }).end(shuttingDown ? 'shutting down\n' : 'ok\n');
      return;
    }
    if (path === '/readyz') {
      const failing = [...checks].map(([name, check]) => ({ name, ...check() })).filter((r) => !r.ok);
      const ok = failing.length === 0 && !shuttingDown;
      const body = ok ? 'ok\n' : [...(shuttingDown ? ['shutting down'] : []), ...failing.map((f) => `${f.name}: ${f.message}`)].join('\n') + '\n';
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(body);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.address, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    addReadinessCheck: (name, check) => checks.set(name, check),
    addRoute: (path, handler) => routes.set(path, handler),
    markShuttingDown: () => { shuttingDown = true; },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
