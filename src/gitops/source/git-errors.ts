// Wraps what isomorphic-git, node:http and TLS throw into the error catalogue,
// with messages that say what failed and what to do. Credentials never reach
// a message: URLs are printed without userinfo.
import { ErrorCodes, SluiceError, type ErrorCode } from '../../errors.ts';

export interface GitErrorContext {
  url: string;
  /** Name of the Secret with credentials, when spec.secretRef is set. */
  secretName?: string | undefined;
}

const networkCodes: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'DNS lookup failed temporarily',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed',
  ECONNABORTED: 'connection aborted',
  UND_ERR_SOCKET: 'connection closed',
  ERR_STREAM_PREMATURE_CLOSE: 'connection closed before the response ended',
};

const tlsCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/** The URL without user:password@, query or fragment, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    parsed.hash = '';
    return parsed.href;
  } catch {
    return '(an unparseable URL)';
  }
}

/** Codes along the cause chain; network errors nest inside isomorphic-git's. */
/** The `code` of an isomorphic-git or Node error, if it has a string one. */
export function gitErrorCode(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

function codesOf(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

function make(code: ErrorCode, message: string, hint: string, cause: unknown, options: { status?: number; retryable?: boolean } = {}): SluiceError {
  return new SluiceError(code, message, { hint, cause, retryable: options.retryable ?? true, status: options.status });
}

export function mapGitError(error: unknown, context: GitErrorContext): SluiceError {
  if (error instanceof SluiceError) return error;
  const url = redactUrl(context.url);
  const origin = (() => {
    try {
      return new URL(context.url).origin;
    } catch {
      return url;
    }
  })();
  const codes = codesOf(error);
  const message = error instanceof Error ? error.message : String(error);

  if (codes.includes('HttpError')) {
    const data = (error as { data?: { statusCode?: number; statusMessage?: string } }).data ?? {};
    const status = data.statusCode ?? 0;
    const statusText = `HTTP ${status}${data.statusMessage ? ` ${data.statusMessage}` : ''}`;
    if (status === 401 || status === 403) {
      const hint = context.secretName === undefined
        ? 'the repository needs credentials: set spec.secretRef to a Secret with username and password (a token as password), or bearerToken'
        : `check the credentials in Secret ${context.secretName} (username and password, or bearerToken) and that they may read this repository`;
      return make(ErrorCodes.GitAuthFailed, `authentication to ${url} failed (${statusText})`, hint, error, { status });
    }
    if (status === 404) {
      return make(ErrorCodes.GitRepositoryNotFound, `repository ${url} not found (${statusText})`,
        'check spec.url; some servers also answer 404 for private repositories when the credentials are missing or wrong', error, { status });
    }
    if (status === 408 || status === 429 || status >= 500) {
      return make(ErrorCodes.GitUnreachable, `${url} answered ${statusText}`, 'the Git server is failing or overloaded; the last artifact keeps serving and sluice retries with backoff', error, { status });
    }
    return make(ErrorCodes.GitProtocolError, `${url} answered ${statusText}`, 'check spec.url points at a Git repository served over smart HTTP', error, { status, retryable: false });
  }
  if (codes.includes('SmartHttpError') || codes.includes('EmptyServerResponseError') || codes.includes('ParseError')) {
    return make(ErrorCodes.GitProtocolError, `${url} did not answer as a Git smart-HTTP server: ${message}`,
      'check spec.url; it must be the repository URL a `git clone` over HTTPS would use', error);
  }
  if (codes.includes('RemoteCapabilityError')) {
    return make(ErrorCodes.GitProtocolError, `the Git server at ${origin} lacks a feature sluice needs: ${message}`,
      'sluice needs a server that supports shallow fetches (every common Git host does)', error, { retryable: false });
  }
  const tls = codes.find((code) => tlsCodes.has(code));
  if (tls !== undefined) {
    return make(ErrorCodes.GitUnreachable, `TLS connection to ${origin} failed: ${message} (${tls})`,
      'if the server uses a private CA, put its certificate in the secretRef Secret under ca.crt', error);
  }
  const network = codes.find((code) => code in networkCodes);
  if (network !== undefined) {
    return make(ErrorCodes.GitUnreachable, `cannot reach ${origin}: ${networkCodes[network] ?? network} (${network})`,
      'the last artifact keeps serving; sluice retries with backoff', error);
  }
  if (codes.includes('UrlParseError') || codes.includes('UnknownTransportError')) {
    return make(ErrorCodes.SpecInvalid, `spec.url ${url} cannot be used: ${message}`, 'use an https:// or http:// repository URL', error, { retryable: false });
  }
  return make(ErrorCodes.Internal, `fetching ${url} failed: ${message}`, 'sluice retries with backoff; report a bug if this persists', error);
}
