// The one interface every metrics provider implements. A provider moves a
// query to its backend and hands back the answer's shape as it is; deciding
// what the answer means (one value, no data, ambiguous) is analysis's job, so
// every provider gets the same rules.
import type { MetricProviderType } from '../../../api/types.ts';

export type ProviderCredentials =
  | { type: 'bearer'; token: string }
  | { type: 'basic'; username: string; password: string };

export interface ProviderConfig {
  type: MetricProviderType;
  /** Base URL, e.g. http://prometheus.monitoring:9090 */
  address: string;
  credentials?: ProviderCredentials | undefined;
  insecureSkipVerify?: boolean | undefined;
  /** Extra HTTP headers for every request. */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Time limit of one query, client and server side. */
  timeoutMs: number;
}

/** One series of an instant vector. */
export interface Sample {
  labels: Readonly<Record<string, string>>;
  /** NaN and ±Infinity are kept as such. */
  value: number;
}

/** The answer to an instant query, by result type. */
export type QueryAnswer =
  | { resultType: 'vector'; series: Sample[] }
  | { resultType: 'scalar'; value: number }
  | { resultType: 'matrix'; series: { labels: Readonly<Record<string, string>>; samples: number }[] }
  | { resultType: 'string'; value: string };

export interface QueryOptions {
  signal?: AbortSignal | undefined;
}

export interface MetricProvider {
  readonly type: MetricProviderType;
  readonly address: string;
  /**
   * Runs an instant query. Throws SluiceError: PrometheusUnavailable (no
   * answer, timeout, 5xx), PrometheusAuthFailed (401/403), PrometheusQueryError
   * (the backend rejected the query).
   */
  query(query: string, options?: QueryOptions): Promise<QueryAnswer>;
  /** Resolves when the provider answers queries with these settings; throws as query does. */
  checkAvailability(options?: QueryOptions): Promise<void>;
}

export type ProviderFactory = (config: ProviderConfig) => MetricProvider;
