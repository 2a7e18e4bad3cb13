// Prometheus through prometheus-query: bearer token or basic auth, custom
// headers, insecureSkipVerify, and a time limit on every query (the client
// gives up and Prometheus is told to as well). prometheus-query rejects with
// plain objects ({ errorType, error, code, httpStatus, ... }); they become
// SluiceErrors here, at the boundary.
import https from 'node:https';
import { PrometheusDriver, type PrometheusConnectionOptions } from 'prometheus-query';
import { ErrorCodes, SluiceError } from '../../../errors.ts';
import type { MetricProvider, ProviderConfig, QueryAnswer, QueryOptions, Sample } from './provider.ts';

type RequestConfig = Parameters<NonNullable<PrometheusConnectionOptions['requestInterceptor']>['onFulfilled']>[0];
type HttpResponse = Parameters<NonNullable<PrometheusConnectionOptions['responseInterceptor']>['onFulfilled']>[0];

/** The query a provider availability check runs: cheap, and needs the query API to work. */
export const AVAILABILITY_QUERY = 'vector(1)';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The address without credentials or query string, for messages. */
export function displayAddress(address: string): string {
  try {
    const url = new URL(address);
    url.username = '';
    url.password = '';
    url.search = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return address;
  }
}

// ---------------------------------------------------------------------------
// Error mapping

export interface PrometheusErrorContext {
  address: string;
  timeoutMs?: number | undefined;
}

const TLS_CODE = /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT)/;

const unreachableHint = 'check the address and that Prometheus is running; the check counts as failed until it answers';

/** Maps whatever prometheus-query rejected with onto the error catalogue. */
export function mapPrometheusError(error: unknown, context: PrometheusErrorContext): SluiceError {
  if (error instanceof SluiceError) return error;
  const where = displayAddress(context.address);
  if (!isRecord(error) || typeof error.errorType !== 'string') {
    const message = error instanceof Error ? error.message : String(error);
    return new SluiceError(ErrorCodes.PrometheusQueryError, `query to Prometheus at ${where} failed: ${message}`, { cause: error });
  }
  const detail = typeof error.error === 'string' ? error.error : 'no details';
  const code = typeof error.code === 'string' ? error.code : undefined;
  switch (error.errorType) {
    case 'timeout_error':
      return new SluiceError(
        ErrorCodes.PrometheusUnavailable,
        `no answer from Prometheus at ${where} within ${context.timeoutMs ?? '?'} ms`,
        { cause: error, retryable: true, hint: unreachableHint },
      );
    case 'network_error':
    case 'ssl_error': {
      if (code === 'ERR_CANCELED') {
        return new SluiceError(ErrorCodes.PrometheusUnavailable, `query to Prometheus at ${where} was aborted`, { cause: error, retryable: true });
      }
      const tls = code !== undefined && TLS_CODE.test(code);
      return new SluiceError(
        ErrorCodes.PrometheusUnavailable,
        `cannot reach Prometheus at ${where}: ${code ? `${code} ` : ''}${detail}`,
        {
          cause: error,
          retryable: !tls,
          hint: tls ? "Prometheus's TLS certificate is not trusted: fix the certificate, or set provider.insecureSkipVerify" : unreachableHint,
        },
      );
    }
    case 'http_error':
      return mapHttpError(error, detail, where);
    case 'client_error':
      return new SluiceError(
        ErrorCodes.PrometheusUnavailable,
        `the answer from ${where} is not a Prometheus API response`,
        { cause: error, hint: "the address must be Prometheus's base URL (without /api/v1)" },
      );
    default:
      return new SluiceError(ErrorCodes.PrometheusQueryError, `query to Prometheus at ${where} failed: ${error.errorType}: ${detail}`, { cause: error });
  }
}

function mapHttpError(error: Record<string, unknown>, detail: string, where: string): SluiceError {
  const status = typeof error.httpStatus === 'number' ? error.httpStatus : 0;
  const payload = isRecord(error.prometheus) ? error.prometheus : {};
  const promType = typeof payload.errorType === 'string' ? payload.errorType : undefined;
  const said = `Prometheus at ${where} answered HTTP ${status}${promType && promType !== 'http' ? ` (${promType})` : ''}: ${detail}`;
  if (status === 401 || status === 403) {
    return new SluiceError(ErrorCodes.PrometheusAuthFailed, said, {
      cause: error, status,
      hint: "check the credentials in the provider's secretRef Secret (token, or username and password)",
    });
  }
  if (status === 404) {
    return new SluiceError(ErrorCodes.PrometheusUnavailable, said, {
      cause: error, status, hint: "the address must be Prometheus's base URL (without /api/v1)",
    });
  }
  if (status >= 500) {
    // 503 with errorType timeout/canceled is Prometheus giving up on the query.
    return new SluiceError(ErrorCodes.PrometheusUnavailable, said, { cause: error, status, retryable: true, hint: unreachableHint });
  }
  return new SluiceError(ErrorCodes.PrometheusQueryError, said, {
    cause: error, status, hint: 'fix the query; the rendered query is shown with the check',
  });
}

// Error bodies that are not Prometheus JSON (a proxy's 502 page, the web
// config's plain-text 401) make prometheus-query drop the HTTP status and say
// "unexpected client error". Giving them Prometheus's error shape keeps the
// status, so a 401 is an auth failure and a 502 an outage.
function normaliseErrorBody(error: unknown): never {
  if (isRecord(error) && isRecord(error.response)) {
    const response = error.response;
    const data = response.data;
    if (!isRecord(data) || typeof data.status !== 'string') {
      const status = typeof response.status === 'number' ? response.status : 0;
      const text = typeof data === 'string' ? data.trim().slice(0, 200) : '';
      const statusText = typeof response.statusText === 'string' ? response.statusText : '';
      response.data = { status: 'error', errorType: 'http', error: text || statusText || `HTTP ${status}` };
    }
  }
  // Rejecting with what the library threw keeps its own handling intact.
  throw error;
}

// ---------------------------------------------------------------------------
// Answers

/** Prometheus encodes sample values as strings, including NaN and ±Inf. */
export function parseSampleValue(text: unknown): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const value = typeof text === 'string' && text.trim() !== '' ? Number(text) : NaN;
  if (Number.isNaN(value)) {
    throw new SluiceError(ErrorCodes.MetricResultInvalid, `Prometheus returned a sample value that is not a number: ${JSON.stringify(text)}`);
  }
  return value;
}

function labelsOf(value: unknown): Record<string, string> {
  const labels: Record<string, string> = {};
  if (isRecord(value)) for (const [key, label] of Object.entries(value)) labels[key] = String(label);
  return labels;
}

function pointValue(point: unknown, what: string): number {
  if (!Array.isArray(point) || point.length !== 2) {
    throw new SluiceError(ErrorCodes.MetricResultInvalid, `${what} is not a [time, value] pair: ${JSON.stringify(point)?.slice(0, 200)}`, {
      hint: 'native histograms are not numbers; wrap them in histogram_quantile() or histogram_count()',
    });
  }
  return parseSampleValue(point[1]);
}

/**
 * The answer of GET /api/v1/query, parsed from the raw JSON. prometheus-query's
 * own parsing turns "+Inf" into NaN, which would report a latency beyond the
 * largest bucket as "no data"; this keeps it as Infinity.
 */
export function parseQueryData(data: unknown): QueryAnswer {
  if (!isRecord(data) || typeof data.resultType !== 'string') {
    throw new SluiceError(ErrorCodes.MetricResultInvalid, 'Prometheus answered without a resultType');
  }
  const result = data.result;
  switch (data.resultType) {
    case 'vector': {
      const list = Array.isArray(result) ? result : [];
      const series: Sample[] = list.map((entry: unknown) => {
        const labels = labelsOf(isRecord(entry) ? entry.metric : undefined);
        return { labels, value: pointValue(isRecord(entry) ? entry.value : undefined, 'a vector sample') };
      });
      return { resultType: 'vector', series };
    }
    case 'scalar':
      return { resultType: 'scalar', value: pointValue(result, 'the scalar') };
    case 'matrix': {
      const list = Array.isArray(result) ? result : [];
      return {
        resultType: 'matrix',
        series: list.map((entry: unknown) => ({
          labels: labelsOf(isRecord(entry) ? entry.metric : undefined),
          samples: isRecord(entry) && Array.isArray(entry.values) ? entry.values.length : 0,
        })),
      };
    }
    case 'string':
      return { resultType: 'string', value: Array.isArray(result) ? String(result[1]) : String(result) };
    default:
      throw new SluiceError(ErrorCodes.MetricResultInvalid, `Prometheus answered with unknown resultType "${data.resultType}"`);
  }
}

// ---------------------------------------------------------------------------
// The provider

function authorizationHeader(config: ProviderConfig): string | undefined {
  const credentials = config.credentials;
  if (!credentials) return undefined;
  if (credentials.type === 'bearer') return `Bearer ${credentials.token}`;
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/** Prometheus's own `timeout` parameter, so it stops evaluating when we stop waiting. */
function serverTimeout(ms: number): string {
  return `${Math.max(1, Math.round(ms))}ms`;
}

export class PrometheusProvider implements MetricProvider {
  readonly type = 'prometheus' as const;
  readonly address: string;
  readonly #config: ProviderConfig;
  readonly #headers: Record<string, string>;
  readonly #agent: https.Agent | undefined;

  constructor(config: ProviderConfig) {
    if (!/^https?:\/\//.test(config.address)) {
      throw new SluiceError(ErrorCodes.SpecInvalid, `Prometheus address "${displayAddress(config.address)}" is not an http(s) URL`);
    }
    this.#config = config;
    this.address = config.address.replace(/\/+$/, '');
    const headers: Record<string, string> = { ...config.headers };
    const authorization = authorizationHeader(config);
    if (authorization) {
      // Credentials from the Secret win over a hand-written Authorization header.
      for (const name of Object.keys(headers)) if (name.toLowerCase() === 'authorization') delete headers[name];
      headers.Authorization = authorization;
    }
    this.#headers = headers;
    this.#agent = config.insecureSkipVerify && this.address.startsWith('https:') ? new https.Agent({ rejectUnauthorized: false }) : undefined;
  }

  async query(query: string, options: QueryOptions = {}): Promise<QueryAnswer> {
    if (options.signal?.aborted) {
      throw new SluiceError(ErrorCodes.PrometheusUnavailable, `query to Prometheus at ${displayAddress(this.address)} was aborted`, { retryable: true });
    }
    // A driver per query: cheap (an axios instance), and the interceptors
    // below then belong to this one request.
    let raw: unknown;
    const driver = new PrometheusDriver({
      endpoint: this.address,
      headers: this.#headers,
      timeout: this.#config.timeoutMs,
      requestInterceptor: {
        onFulfilled: (request: RequestConfig) => {
          if (this.#agent) request.httpsAgent = this.#agent;
          if (options.signal) request.signal = options.signal;
          return request;
        },
      },
      responseInterceptor: {
        onFulfilled: (response: HttpResponse) => {
          raw = response.data;
          return response;
        },
        onRejected: normaliseErrorBody,
      },
    });
    try {
      await driver.instantQuery(query, undefined, serverTimeout(this.#config.timeoutMs));
    } catch (error) {
      // No 2xx answer at all: a transport or HTTP error.
      if (raw === undefined) throw mapPrometheusError(error, { address: this.address, timeoutMs: this.#config.timeoutMs });
      // A 2xx answer that prometheus-query could not use. It reports a non-API
      // body as "unexpected network error", and fails on some valid answers
      // (native histograms), so look at the body ourselves.
    }
    if (!isRecord(raw) || raw.status !== 'success') {
      throw new SluiceError(ErrorCodes.PrometheusUnavailable, `the answer from ${displayAddress(this.address)} is not a Prometheus API response`, {
        hint: "the address must be Prometheus's base URL (without /api/v1)",
      });
    }
    return parseQueryData(raw.data);
  }

  async checkAvailability(options: QueryOptions = {}): Promise<void> {
    const answer = await this.query(AVAILABILITY_QUERY, options);
    const value = answer.resultType === 'vector' && answer.series.length === 1 ? answer.series[0]?.value : undefined;
    if (value !== 1) {
      throw new SluiceError(
        ErrorCodes.PrometheusUnavailable,
        `Prometheus at ${displayAddress(this.address)} answered ${AVAILABILITY_QUERY} with ${JSON.stringify(answer).slice(0, 200)}`,
        { hint: 'the address does not seem to be a Prometheus query API' },
      );
    }
  }
}
