// The HTTP server Receivers are reached on: POST /hook/<sha256>. Unknown
// paths are 404, oversized bodies 413, bad signatures 401 without detail.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { WEBHOOK_PATH_PREFIX } from './signature.ts';
import { handleWebhook, type WebhookEndpoint } from './webhook.ts';

export interface ReceiverServerOptions {
  port: number;
  address: string;
  logger: Logger;
  /** The Receiver registered for a webhook path, if any. */
  lookup: (path: string) => WebhookEndpoint | undefined;
  /** Largest body accepted; GitHub's own cap is 25 MB, push payloads are far smaller. Default 5 MiB. */
  maxBodyBytes?: number | undefined;
}

export interface ReceiverServer {
  port: number;
  close(): Promise<void>;
}

const HOOK_PATH = /^\/hook\/[0-9a-f]{64}$/;

function reply(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(body);
}

/** Reads the body up to the limit; undefined when it is larger. */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

export async function startReceiverServer(options: ReceiverServerOptions): Promise<ReceiverServer> {
  const log = options.logger.child({ component: 'receiver-server' });
  const maxBodyBytes = options.maxBodyBytes ?? 5 * 1024 * 1024;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const endpoint = HOOK_PATH.test(path) ? options.lookup(path) : undefined;
    if (!endpoint) {
      req.resume();
      reply(res, 404, 'not found\n');
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      reply(res, 405, 'method not allowed\n', { allow: 'POST' });
      return;
    }
    const body = await readBody(req, maxBodyBytes);
    if (body === undefined) {
      reply(res, 413, 'payload too large\n', { connection: 'close' });
      req.destroy();
      return;
    }
    const receiver = `${endpoint.namespace}/${endpoint.name}`;
    const response = await handleWebhook(endpoint, { headers: req.headers, body });
    // The path itself is a credential for generic receivers: log the Receiver, not the path.
    const fields = { receiver, type: endpoint.type, event: response.event, status: response.status };
    if (response.outcome === 'unauthorized') log.warn(fields, 'webhook refused: bad signature or token');
    else if (response.outcome === 'failed') log.error({ ...fields, failed: response.result?.failed }, 'webhook could not trigger every resource');
    else log.info({ ...fields, outcome: response.outcome, triggered: response.result?.triggered, missing: response.result?.missing }, 'webhook handled');
    reply(res, response.status, response.body);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log.error({ err: error instanceof Error ? error.message : String(error) }, 'webhook handler failed');
      reply(res, 500, 'internal error\n');
    });
  });
  // Slow-body senders must not hold connections for long.
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port, address: options.address, prefix: WEBHOOK_PATH_PREFIX }, 'receiver server listening');
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
