// A small JSON REST client for the API server. Objects stay plain JSON (no
// class mapping), which is what a controller handling any kind needs.
import http from 'node:http';
import https from 'node:https';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { errorFromResponse, mapKubeError } from './errors.ts';
import type { KubeConnection } from './config.ts';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Query | undefined;
  body?: unknown;
  contentType?: string | undefined;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
  /** Short description used in error messages, e.g. "apply Deployment ns/web". */
  what?: string | undefined;
}

export interface StreamSpec {
  path: string;
  query?: Query | undefined;
  signal: AbortSignal;
  what?: string | undefined;
  /** Called once per newline-delimited JSON value. */
  onValue: (value: unknown) => void;
}

const defaultTimeoutMs = 30_000;

export class RestClient {
  readonly connection: KubeConnection;
  readonly #agent: http.Agent;
  readonly #secure: boolean;
  #requests = 0;

  constructor(connection: KubeConnection) {
    this.connection = connection;
    this.#secure = connection.server.startsWith('https:');
    const agentOptions = { keepAlive: true, maxSockets: 32 };
    this.#agent = this.#secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  /** Number of requests sent so far, for benchmarks and API-budget tests. */
  get requestCount(): number {
    return this.#requests;
  }

  async request<T>(spec: RequestSpec): Promise<T> {
    const what = spec.what ?? `${spec.method} ${spec.path}`;
    const payload = spec.body === undefined ? undefined
      : typeof spec.body === 'string' ? spec.body : JSON.stringify(spec.body);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (payload !== undefined) {
      headers['Content-Type'] = spec.contentType ?? 'application/json';
      // Without a length Node sends DELETE bodies chunked; the API server does not
      // read them, and the leftover bytes corrupt the next request on the socket.
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const { status, body, retryAfter } = await this.#send(spec, headers, payload, what);
    if (status < 200 || status > 299) throw errorFromResponse(status, body, { what, retryAfterHeader: retryAfter });
    if (body.length === 0) return undefined as T;
    try {
      return JSON.parse(body) as T;
    } catch (error) {
      throw new SluiceError(ErrorCodes.KubeServerError, `${what}: the API server answered with invalid JSON`, { cause: error });
    }
  }

  /** Opens a streaming GET (watch) and resolves when the server ends the stream. */
  async stream(spec: StreamSpec): Promise<void> {
    const what = spec.what ?? `watch ${spec.path}`;
    const options = await this.#options({ method: 'GET', path: spec.path, query: spec.query }, { Accept: 'application/json' });
    await new Promise<void>((resolve, reject) => {
      const req = this.#transport().request({ ...options, signal: spec.signal }, (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => { body += chunk; });
          res.on('end', () => reject(errorFromResponse(status, body, { what })));
          res.on('error', (error) => reject(mapKubeError(error, what)));
          return;
        }
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let newline = buffered.indexOf('\n');
          while (newline >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            if (line.length > 0) {
              try {
                spec.onValue(JSON.parse(line));
              } catch (error) {
                req.destroy(error as Error);
                return;
              }
            }
            newline = buffered.indexOf('\n');
          }
        });
        res.on('end', () => resolve());
        res.on('error', (error) => reject(mapKubeError(error, what)));
      });
      req.on('error', (error) => (spec.signal.aborted ? resolve() : reject(mapKubeError(error, what))));
      req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }

  #transport(): typeof https | typeof http {
    return this.#secure ? https : http;
  }

  async #options(spec: Pick<RequestSpec, 'method' | 'path' | 'query'>, headers: Record<string, string>): Promise<https.RequestOptions> {
    const url = new URL(this.connection.server + spec.path);
    for (const [key, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const auth = await this.connection.requestOptions();
    this.#requests++;
    return {
      ...auth,
      agent: this.#agent,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: spec.method,
      headers: { ...(auth.headers as Record<string, string> | undefined ?? {}), ...headers } as Record<string, string>,
    };
  }

  async #send(spec: RequestSpec, headers: Record<string, string>, payload: string | undefined, what: string) {
    const options = await this.#options(spec, headers);
    const timeout = AbortSignal.timeout(spec.timeoutMs ?? defaultTimeoutMs);
    const signal = spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout;
    return new Promise<{ status: number; body: string; retryAfter: string | undefined }>((resolve, reject) => {
      const req = this.#transport().request({ ...options, signal }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => { body += chunk; });
        res.on('end', () => {
          const retryAfter = res.headers['retry-after'];
          resolve({ status: res.statusCode ?? 0, body, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined });
        });
        res.on('error', (error) => reject(mapKubeError(error, what)));
      });
      req.on('error', (error) => {
        if (timeout.aborted && !spec.signal?.aborted) {
          reject(new SluiceError(ErrorCodes.KubeTimeout, `${what}: no answer within ${spec.timeoutMs ?? defaultTimeoutMs} ms`, { retryable: true }));
        } else {
          reject(mapKubeError(error, what));
        }
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}
