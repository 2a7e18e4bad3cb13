// The public API of canary analysis, for the canary controller and the CLI.
//
// At initialization (and when the Canary's generation changes):
//   const availability = await checkMetricProviders(canary, context);
//   status.conditions = setCondition(status.conditions, availability.condition);
// Once per analysis tick:
//   const result = await runAnalysis(canary, { ...context, previous: lastResult });
//   if (result.outcome === 'fail') status.failedChecks += 1;   // rollback at threshold
//   if (result.outcome === 'hold') keep the weight, count nothing
//   status.metrics = toMetricStatuses(result);
//   for (const event of analysisEvents(canary, result)) await events.record(event);
// where context = { templates: <MetricTemplate informer>, secrets: <Secret source>, config, signal, logger }.
export {
  analysisEvents,
  checkMetricProviders,
  CheckReasons,
  METRICS_AVAILABLE_CONDITION,
  reasonForCode,
  runAnalysis,
  toMetricStatuses,
  type AnalysisContext,
  type AnalysisResult,
  type CheckOutcome,
  type MetricCheck,
  type MetricProblem,
  type MetricsAvailability,
  type ProviderStatus,
} from './analysis.ts';
export { BUILTIN_QUERY_TEMPLATES, builtinQueryTemplate, isBuiltinMetric, METRICS_SOURCE_BY_PROVIDER } from './builtin.ts';
export { analysisMetrics, AnalysisMetrics, type MetricFamily, type MetricSample } from './metrics.ts';
export { createProvider, providerFactories } from './providers/factory.ts';
export type { MetricProvider, ProviderConfig, ProviderCredentials, QueryAnswer } from './providers/provider.ts';
export {
  DEFAULT_MAX_HOLD_CHECKS,
  DEFAULT_QUERY_TIMEOUT_MS,
  objectSource,
  prepareMetric,
  type AnalysisConfig,
  type ObjectSource,
  type PreparedMetric,
  type Secret,
} from './resolve.ts';
export { BUILTIN_VARIABLES, renderQuery, variablesUsed } from './render.ts';
