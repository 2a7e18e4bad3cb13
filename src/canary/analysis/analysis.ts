// One analysis round of a Canary: every metric check once, each with an
// explicit outcome. The canary controller calls runAnalysis once per tick and
// acts on `outcome`:
//   pass → the step's checks are good (advance if nothing else holds it back);
//   fail → count one failed check (rollback when failedChecks reaches threshold);
//   hold → keep the current weight without counting a failure.
// Three failure modes never blur: Prometheus unreachable (PrometheusUnavailable),
// a query or its answer is wrong (PrometheusQueryError, MetricResultInvalid),
// and no data (MetricNoData, governed per metric by onNoData). Each check
// carries the rendered query and what came back, for status and events.
import type { Logger } from 'pino';
import type { ConditionUpdate } from '../../api/conditions.ts';
import type { Canary, MetricCheckStatus, MetricResult, ThresholdRange } from '../../api/types.ts';
import { ErrorCodes, toSluiceError, type ErrorCode, type SluiceError } from '../../errors.ts';
import type { EventSpec } from '../../kube/events.ts';
import { describeRange, formatValue, inRange, measure, type Measurement } from './check.ts';
import { analysisMetrics, type AnalysisMetrics } from './metrics.ts';
import { createProvider } from './providers/factory.ts';
import { displayAddress } from './providers/prometheus.ts';
import type { ProviderConfig, ProviderFactory } from './providers/provider.ts';
import { prepareMetric, type PreparedMetric, type ResolveContext } from './resolve.ts';

export type CheckOutcome = 'pass' | 'fail' | 'hold';

/** Reasons of checks that measured something or nothing; errors use their code's name (e.g. PrometheusUnavailable). */
export const CheckReasons = {
  WithinRange: 'WithinRange',
  OutOfRange: 'OutOfRange',
  NoThresholdRange: 'NoThresholdRange',
  MetricNoData: 'MetricNoData',
} as const;

export interface MetricCheck {
  name: string;
  /** As in Canary status.metrics[].result. */
  result: MetricResult;
  /** What the check means for the rollout. */
  outcome: CheckOutcome;
  /** CamelCase, for events and conditions: WithinRange, OutOfRange, NoThresholdRange, MetricNoData, or an error code's name. */
  reason: string;
  /** One human-readable sentence: what was measured, or what went wrong. */
  message: string;
  /** The measured value, when there was one (may be ±Infinity). */
  value?: number | undefined;
  range: ThresholdRange;
  /** The rendered query; absent when the configuration could not be resolved. */
  query?: string | undefined;
  /** Where the query came from, e.g. "MetricTemplate shop/errors". */
  source?: string | undefined;
  /** The provider's address, without credentials. */
  address?: string | undefined;
  /** What the provider answered, in words (a value, "empty result", the error). */
  answer?: string | undefined;
  /** The error of Error results. */
  error?: SluiceError | undefined;
  /**
   * Consecutive checks of this metric that found no data, including this one
   * (errors in between neither reset nor advance it). The hold bound is
   * measured with it; pass the previous result back in to keep counting.
   */
  noDataChecks: number;
  /** RFC 3339. */
  time: string;
  durationMs: number;
}

export interface AnalysisResult {
  /** fail if any check fails, else hold if any holds, else pass. */
  outcome: CheckOutcome;
  checks: MetricCheck[];
  /** RFC 3339. */
  time: string;
  /** One line for conditions and logs. */
  message: string;
}

export interface AnalysisContext extends ResolveContext {
  /** The previous round's result for this Canary, to continue no-data counts (onNoData: hold). */
  previous?: AnalysisResult | undefined;
  /** Aborts queries in flight, e.g. on shutdown. */
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
  /** Where counters go; default the process-wide analysisMetrics. */
  metrics?: AnalysisMetrics | undefined;
  /** Provider implementations; default the real ones (tests pass fakes). */
  createProvider?: ProviderFactory | undefined;
  now?: (() => Date) | undefined;
}

const reasonByCode = new Map<string, string>(Object.entries(ErrorCodes).map(([name, code]) => [code, name]));

/** The CamelCase reason for an error code, e.g. PROMETHEUS_UNAVAILABLE → PrometheusUnavailable. */
export function reasonForCode(code: ErrorCode): string {
  return reasonByCode.get(code) ?? 'Internal';
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function canaryRef(canary: Canary): { namespace: string; name: string } {
  return { namespace: canary.metadata.namespace ?? '', name: canary.metadata.name };
}

interface CheckBase {
  name: string;
  range: ThresholdRange;
  time: string;
  started: number;
  previousNoData: number;
  prepared?: PreparedMetric | undefined;
}

function base(check: CheckBase, clock: () => Date): Omit<MetricCheck, 'result' | 'outcome' | 'reason' | 'message' | 'noDataChecks'> {
  return {
    name: check.name,
    range: check.range,
    query: check.prepared?.query,
    source: check.prepared?.source,
    address: check.prepared ? displayAddress(check.prepared.provider.address) : undefined,
    time: check.time,
    durationMs: clock().getTime() - check.started,
  };
}

function errorCheck(check: CheckBase, error: unknown, clock: () => Date): MetricCheck {
  const mapped = toSluiceError(error);
  return {
    ...base(check, clock),
    result: 'Error',
    outcome: 'fail',
    reason: reasonForCode(mapped.code),
    message: mapped.describe(),
    answer: mapped.message,
    error: mapped,
    noDataChecks: check.previousNoData,
  };
}

function judge(check: CheckBase, prepared: PreparedMetric, measurement: Measurement, clock: () => Date): MetricCheck {
  const common = { ...base(check, clock), answer: measurement.answer };
  if (measurement.kind === 'value') {
    const { value } = measurement;
    const shown = formatValue(value);
    const withValue = { ...common, value, noDataChecks: 0 };
    if (prepared.range.min === undefined && prepared.range.max === undefined) {
      return { ...withValue, result: 'Pass', outcome: 'pass', reason: CheckReasons.NoThresholdRange, message: `${check.name} is ${shown}; no thresholdRange, so the value is only recorded` };
    }
    if (inRange(value, prepared.range)) {
      return { ...withValue, result: 'Pass', outcome: 'pass', reason: CheckReasons.WithinRange, message: `${check.name} is ${shown}, within ${describeRange(prepared.range)}` };
    }
    const side = prepared.range.min !== undefined && value < prepared.range.min
      ? `below the minimum ${formatValue(prepared.range.min)}`
      : `above the maximum ${formatValue(prepared.range.max ?? NaN)}`;
    return { ...withValue, result: 'Fail', outcome: 'fail', reason: CheckReasons.OutOfRange, message: `${check.name} is ${shown}, ${side}` };
  }

  const noDataChecks = check.previousNoData + 1;
  const said = `no data for ${check.name}: ${measurement.answer}`;
  const noData = { ...common, reason: CheckReasons.MetricNoData, noDataChecks };
  switch (prepared.onNoData) {
    case 'pass':
      return { ...noData, result: 'NoData', outcome: 'pass', message: `${said}; passes because onNoData is pass` };
    case 'hold':
      if (noDataChecks <= prepared.maxHoldChecks) {
        return { ...noData, result: 'Hold', outcome: 'hold', message: `${said}; holding the current weight (${noDataChecks} of ${prepared.maxHoldChecks} no-data checks allowed by maxHoldChecks)` };
      }
      return { ...noData, result: 'NoData', outcome: 'fail', message: `${said}; ${noDataChecks} checks in a row without data, more than maxHoldChecks ${prepared.maxHoldChecks}, so it fails` };
    case 'fail':
      return { ...noData, result: 'NoData', outcome: 'fail', message: `${said}; fails because onNoData is fail` };
  }
}

async function runCheck(canary: Canary, index: number, context: AnalysisContext, clock: () => Date): Promise<MetricCheck> {
  const metric = canary.spec.analysis.metrics?.[index];
  const name = metric?.name ?? `#${index}`;
  const previous = context.previous?.checks.find((c) => c.name === name);
  const check: CheckBase = {
    name,
    range: metric?.thresholdRange ?? {},
    time: timestamp(clock()),
    started: clock().getTime(),
    previousNoData: previous?.noDataChecks ?? 0,
  };
  try {
    check.prepared = await prepareMetric(canary, index, context);
  } catch (error) {
    return errorCheck(check, error, clock);
  }
  const prepared = check.prepared;
  const queryStarted = clock().getTime();
  const factory = context.createProvider ?? createProvider;
  const metrics = context.metrics ?? analysisMetrics;
  let answer;
  try {
    answer = await factory(prepared.provider).query(prepared.query, { signal: context.signal });
    metrics.recordQuery({ provider: prepared.provider.type, code: 'ok', durationMs: clock().getTime() - queryStarted });
  } catch (error) {
    const mapped = toSluiceError(error, ErrorCodes.PrometheusQueryError);
    metrics.recordQuery({ provider: prepared.provider.type, code: mapped.code, durationMs: clock().getTime() - queryStarted });
    return errorCheck(check, mapped, clock);
  }
  try {
    return judge(check, prepared, measure(answer), clock);
  } catch (error) {
    return errorCheck(check, error, clock);
  }
}

function summarise(checks: readonly MetricCheck[]): string {
  if (checks.length === 0) return 'no metric checks';
  const list = (some: readonly MetricCheck[]): string => some.map((c) => `${c.name} (${c.reason})`).join(', ');
  const failed = checks.filter((c) => c.outcome === 'fail');
  const held = checks.filter((c) => c.outcome === 'hold');
  const parts: string[] = [];
  if (failed.length > 0) parts.push(`${failed.length} of ${checks.length} metric checks failed: ${list(failed)}`);
  if (held.length > 0) parts.push(`${held.length} of ${checks.length} holding for data: ${list(held)}`);
  return parts.length > 0 ? parts.join('; ') : `${checks.length} of ${checks.length} metric checks passed`;
}

/**
 * Runs every metric check of a Canary once, in parallel. Never throws for a
 * failing check: every problem is a check with result Error and a reason.
 */
export async function runAnalysis(canary: Canary, context: AnalysisContext): Promise<AnalysisResult> {
  const clock = context.now ?? (() => new Date());
  const time = timestamp(clock());
  const count = canary.spec.analysis.metrics?.length ?? 0;
  const checks = await Promise.all(Array.from({ length: count }, (_, index) => runCheck(canary, index, context, clock)));
  const outcome: CheckOutcome = checks.some((c) => c.outcome === 'fail') ? 'fail' : checks.some((c) => c.outcome === 'hold') ? 'hold' : 'pass';

  const metrics = context.metrics ?? analysisMetrics;
  const ref = canaryRef(canary);
  for (const check of checks) {
    metrics.recordCheck(ref, { metric: check.name, result: check.result, reason: check.reason, value: check.value });
    if (check.outcome !== 'pass' || check.result === 'NoData') {
      context.logger?.warn(
        { metric: check.name, result: check.result, reason: check.reason, query: check.query, answer: check.answer },
        check.message,
      );
    } else {
      context.logger?.debug({ metric: check.name, value: check.value }, check.message);
    }
  }
  return { outcome, checks, time, message: summarise(checks) };
}

// ---------------------------------------------------------------------------
// Status and events

/** Longest query quoted in a status message or event. */
const QUERY_QUOTE_LIMIT = 600;

function quoteQuery(query: string | undefined): string {
  if (query === undefined) return '';
  return `; query: ${query.length > QUERY_QUOTE_LIMIT ? `${query.slice(0, QUERY_QUOTE_LIMIT)}...` : query}`;
}

/** Canary status.metrics entries for a result; the message carries the reason and the query. */
export function toMetricStatuses(result: AnalysisResult): MetricCheckStatus[] {
  return result.checks.map((check) => ({
    name: check.name,
    // JSON has no Infinity; the message still says "+Inf".
    ...(check.value !== undefined && Number.isFinite(check.value) ? { value: check.value } : {}),
    ...(check.range.min !== undefined ? { min: check.range.min } : {}),
    ...(check.range.max !== undefined ? { max: check.range.max } : {}),
    result: check.result,
    message: `${check.reason}: ${check.message}${quoteQuery(check.query)}`,
    time: check.time,
  }));
}

/**
 * Events for the checks that did not simply pass: Warning for those that
 * count as failed, Normal for holds and passing no-data. The EventRecorder
 * folds repeats into a series.
 */
export function analysisEvents(canary: Canary, result: AnalysisResult): EventSpec[] {
  const regarding = {
    apiVersion: canary.apiVersion, kind: canary.kind, namespace: canary.metadata.namespace,
    name: canary.metadata.name, uid: canary.metadata.uid,
  };
  return result.checks
    .filter((check) => check.result !== 'Pass')
    .map((check) => ({
      regarding,
      type: check.outcome === 'fail' ? 'Warning' : 'Normal',
      reason: check.reason,
      action: 'Analyze',
      note: `metric ${check.name}: ${check.message}${quoteQuery(check.query)}`,
    }));
}

// ---------------------------------------------------------------------------
// Availability at initialization

export const METRICS_AVAILABLE_CONDITION = 'MetricsAvailable';

export interface ProviderStatus {
  type: string;
  /** Without credentials. */
  address: string;
  /** The metric checks that use this provider. */
  metrics: string[];
  available: boolean;
  /** Available, or an error code's name. */
  reason: string;
  message: string;
}

export interface MetricProblem {
  metric: string;
  reason: string;
  message: string;
}

export interface MetricsAvailability {
  available: boolean;
  /** For setCondition on the Canary's status.conditions. */
  condition: ConditionUpdate;
  providers: ProviderStatus[];
  /** Metrics whose configuration cannot be resolved (template missing, unknown variable, ...). */
  problems: MetricProblem[];
}

/**
 * Checks at initialization that every metric check can run: templates and
 * Secrets resolve, queries render, and each distinct provider answers a query.
 * The result is a condition (MetricsAvailable) for the Canary's status.
 */
export async function checkMetricProviders(canary: Canary, context: AnalysisContext): Promise<MetricsAvailability> {
  const metrics = canary.spec.analysis.metrics ?? [];
  const problems: MetricProblem[] = [];
  const groups = new Map<string, { config: ProviderConfig; metrics: string[] }>();
  for (const [index, metric] of metrics.entries()) {
    try {
      const prepared = await prepareMetric(canary, index, context);
      const key = JSON.stringify(prepared.provider);
      const group = groups.get(key) ?? { config: prepared.provider, metrics: [] };
      group.metrics.push(metric.name);
      groups.set(key, group);
    } catch (error) {
      const mapped = toSluiceError(error);
      problems.push({ metric: metric.name, reason: reasonForCode(mapped.code), message: mapped.describe() });
    }
  }
  const factory = context.createProvider ?? createProvider;
  const providers = await Promise.all([...groups.values()].map(async ({ config, metrics: names }): Promise<ProviderStatus> => {
    const address = displayAddress(config.address);
    try {
      await factory(config).checkAvailability({ signal: context.signal });
      return { type: config.type, address, metrics: names, available: true, reason: 'Available', message: `${config.type} at ${address} answers` };
    } catch (error) {
      const mapped = toSluiceError(error, ErrorCodes.PrometheusUnavailable);
      return { type: config.type, address, metrics: names, available: false, reason: reasonForCode(mapped.code), message: mapped.describe() };
    }
  }));

  const down = providers.filter((p) => !p.available);
  const available = problems.length === 0 && down.length === 0;
  const generation = canary.metadata.generation;
  let condition: ConditionUpdate;
  if (available) {
    const message = metrics.length === 0
      ? 'no metric checks configured'
      : providers.map((p) => `${p.message} (${p.metrics.join(', ')})`).join('; ');
    condition = { type: METRICS_AVAILABLE_CONDITION, status: 'True', reason: metrics.length === 0 ? 'NoMetrics' : 'Available', message, observedGeneration: generation };
  } else {
    const first = problems[0]?.reason ?? down[0]?.reason ?? 'Internal';
    const lines = [
      ...problems.map((p) => `metric ${p.metric}: ${p.message}`),
      ...down.map((p) => `metrics ${p.metrics.join(', ')}: ${p.message}`),
    ];
    condition = { type: METRICS_AVAILABLE_CONDITION, status: 'False', reason: first, message: lines.join('; '), observedGeneration: generation };
  }
  (context.metrics ?? analysisMetrics).recordAvailability(canaryRef(canary), available);
  return { available, condition, providers, problems };
}
