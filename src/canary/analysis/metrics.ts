// Controller metrics of canary analysis, as plain data: a /metrics module
// turns snapshot() into the exposition format. Counters only grow; gauges
// hold the last observation. forget() drops a deleted Canary's series.

export type MetricType = 'counter' | 'gauge';

export interface MetricSample {
  labels: Readonly<Record<string, string>>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: MetricSample[];
}

interface Series {
  labels: Record<string, string>;
  value: number;
}

class Family {
  readonly #series = new Map<string, Series>();
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;

  constructor(name: string, type: MetricType, help: string) {
    this.name = name;
    this.type = type;
    this.help = help;
  }

  #entry(labels: Record<string, string>): Series {
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
    let series = this.#series.get(key);
    if (!series) {
      series = { labels: { ...labels }, value: 0 };
      this.#series.set(key, series);
    }
    return series;
  }

  add(labels: Record<string, string>, amount = 1): void {
    this.#entry(labels).value += amount;
  }

  set(labels: Record<string, string>, value: number): void {
    this.#entry(labels).value = value;
  }

  /** Drops every series whose labels include all of `match`. */
  drop(match: Record<string, string>): void {
    for (const [key, series] of this.#series) {
      if (Object.entries(match).every(([name, value]) => series.labels[name] === value)) this.#series.delete(key);
    }
  }

  snapshot(): MetricFamily {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      samples: [...this.#series.values()].map((s) => ({ labels: { ...s.labels }, value: s.value })),
    };
  }
}

export interface CanaryRef {
  namespace: string;
  name: string;
}

export interface CheckObservation {
  metric: string;
  /** Status result: Pass, Fail, NoData, Error, Hold. */
  result: string;
  /** CamelCase reason, e.g. WithinRange, PrometheusUnavailable. */
  reason: string;
  /** The measured value; absent without one. */
  value?: number | undefined;
}

export interface QueryObservation {
  provider: string;
  /** "ok", or the error code of a failed query. */
  code: string;
  durationMs: number;
}

export class AnalysisMetrics {
  readonly #checks = new Family('sluice_canary_metric_checks_total', 'counter', 'Metric checks run, by result and reason.');
  readonly #values = new Family('sluice_canary_metric_value', 'gauge', 'Last value of a metric check; NaN when the last check measured nothing.');
  readonly #queries = new Family('sluice_metric_queries_total', 'counter', 'Queries sent to metric providers, by outcome ("ok" or an error code).');
  readonly #querySeconds = new Family('sluice_metric_query_duration_seconds_total', 'counter', 'Time spent in metric provider queries.');
  readonly #available = new Family('sluice_canary_metric_provider_available', 'gauge', '1 when every metric provider of a Canary answered its last availability check, else 0.');

  recordCheck(canary: CanaryRef, check: CheckObservation): void {
    const base = { namespace: canary.namespace, name: canary.name, metric: check.metric };
    this.#checks.add({ ...base, result: check.result, reason: check.reason });
    this.#values.set(base, check.value ?? NaN);
  }

  recordQuery(query: QueryObservation): void {
    this.#queries.add({ provider: query.provider, code: query.code });
    this.#querySeconds.add({ provider: query.provider }, query.durationMs / 1000);
  }

  recordAvailability(canary: CanaryRef, available: boolean): void {
    this.#available.set({ namespace: canary.namespace, name: canary.name }, available ? 1 : 0);
  }

  /** Forgets a Canary's series, e.g. after it was deleted. */
  forget(canary: CanaryRef): void {
    const match = { namespace: canary.namespace, name: canary.name };
    this.#checks.drop(match);
    this.#values.drop(match);
    this.#available.drop(match);
  }

  snapshot(): MetricFamily[] {
    return [this.#checks, this.#values, this.#queries, this.#querySeconds, this.#available].map((f) => f.snapshot());
  }
}

/** The process-wide instance the controller's /metrics endpoint exports. */
export const analysisMetrics = new AnalysisMetrics();
