// The HTTP client isomorphic-git talks smart HTTP through. Our own instead of
// isomorphic-git/http/node because a fetch needs what that one lacks: a
// custom CA, a bearer token, an abort signal for spec.timeout, and a cap on
// downloaded bytes (isomorphic-git holds the whole pack in memory, so the
// cap is what keeps a huge repository from exhausting the controller).
import http from 'node:http';
import https from 'node:https';
import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git';
import { ErrorCodes, SluiceError } from '../../errors.ts';

export interface GitHttpClientOptions {
  /** Aborts every request; the abort reason is what the caller sees thrown. */
  signal: AbortSignal;
  /** Most response bytes, summed over all requests of this client; beyond it, GitTooLarge. */
  maxResponseBytes: number;
  /** Extra request headers, e.g. Authorization for a bearer token. */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Agent for https URLs, e.g. one trusting a custom CA. */
  httpsAgent?: https.Agent | undefined;
  userAgent?: string | undefined;
}

export interface GitHttpClient extends HttpClient {
  /** Response bytes received so far. */
  readonly bytesReceived: number;
}

const MAX_REDIRECTS = 5;

function tooLarge(limit: number): SluiceError {
  return new SluiceError(ErrorCodes.GitTooLarge, `the download exceeded the size limit of ${limit} bytes`, {
    hint: 'raise spec.maxSizeBytes (or the controller\'s --git-max-size-bytes), or make the repository smaller',
  });
}

async function collectBody(body: GitHttpRequest['body']): Promise<Buffer | undefined> {
  if (body === undefined) return undefined;
  const chunks: Buffer[] = [];
  // isomorphic-git passes an array or an async iterator; both iterate.
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function flattenHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * Whether following a redirect from `from` to `to` is allowed: same origin,
 * or the same host upgraded from http to https. Never to another host (the
 * credentials would follow) and never from https down to http.
 */
export function redirectAllowed(from: URL, to: URL): boolean {
  if (from.origin === to.origin) return true;
  return from.protocol === 'http:' && to.protocol === 'https:' && from.hostname === to.hostname;
}

export function createGitHttpClient(options: GitHttpClientOptions): GitHttpClient {
  let received = 0;
  // After an info/refs redirect, later requests go to the new base, as git's http.followRedirects=initial does.
  const rewrites: { from: string; to: string }[] = [];

  const rewrite = (url: string): string => {
    for (const { from, to } of rewrites) if (url.startsWith(from)) return to + url.slice(from.length);
    return url;
  };

  const send = (url: URL, method: string, headers: Record<string, string>, body: Buffer | undefined): Promise<http.IncomingMessage> =>
    new Promise((resolve, reject) => {
      options.signal.throwIfAborted();
      const transport = url.protocol === 'https:' ? https : http;
      const request = transport.request(url, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(body.length) },
        agent: url.protocol === 'https:' ? options.httpsAgent : undefined,
      });
      const onAbort = (): void => {
        request.destroy(options.signal.reason instanceof Error ? options.signal.reason : new Error(String(options.signal.reason)));
      };
      options.signal.addEventListener('abort', onAbort, { once: true });
      request.on('response', (response) => {
        // The body stream keeps listening for the abort itself.
        options.signal.removeEventListener('abort', onAbort);
        resolve(response);
      });
      request.on('error', (error) => {
        options.signal.removeEventListener('abort', onAbort);
        reject(options.signal.aborted ? (options.signal.reason as Error) : error);
      });
      request.end(body);
    });

  async function* readBody(response: http.IncomingMessage): AsyncGenerator<Uint8Array> {
    const onAbort = (): void => {
      response.destroy(options.signal.reason instanceof Error ? options.signal.reason : new Error(String(options.signal.reason)));
    };
    options.signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const chunk of response as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > options.maxResponseBytes) {
          response.destroy();
          throw tooLarge(options.maxResponseBytes);
        }
        yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
    } catch (error) {
      if (options.signal.aborted) throw options.signal.reason;
      throw error;
    } finally {
      options.signal.removeEventListener('abort', onAbort);
    }
  }

  async function request(req: GitHttpRequest): Promise<GitHttpResponse> {
    const method = req.method ?? 'GET';
    const headers: Record<string, string> = {
      'user-agent': options.userAgent ?? 'git/isomorphic-git (sluice)',
      ...req.headers,
      ...options.headers,
    };
    const body = await collectBody(req.body);
    let url = new URL(rewrite(req.url));
    for (let hop = 0; ; hop++) {
      const response = await send(url, method, headers, body);
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
        response.resume();
        const next = new URL(location, url);
        if (method !== 'GET' || hop >= MAX_REDIRECTS || !redirectAllowed(url, next)) {
          throw new SluiceError(ErrorCodes.GitProtocolError, `${url.origin} redirected ${method} ${url.pathname} to ${next.origin}${next.pathname}, which sluice does not follow`, {
            hint: 'set spec.url to the repository\'s final URL (redirects are followed only within the same host, at most 5, and never from https to http)',
          });
        }
        const suffix = url.href.slice(url.href.indexOf('/info/refs'));
        if (url.href.includes('/info/refs') && next.href.endsWith(suffix)) {
          rewrites.push({ from: url.href.slice(0, -suffix.length), to: next.href.slice(0, -suffix.length) });
        }
        url = next;
        continue;
      }
      return {
        url: url.href,
        method,
        statusCode: status,
        statusMessage: response.statusMessage ?? '',
        headers: flattenHeaders(response.headers),
        body: readBody(response),
      };
    }
  }

  return {
    request,
    get bytesReceived() {
      return received;
    },
  };
}
