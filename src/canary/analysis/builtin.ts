// The built-in metric checks, request-success-rate (percent of requests not
// answered with a 5xx) and request-duration (p99 in milliseconds), as query
// templates over the series each router's data plane really exposes. They are
// rendered with the same strict renderer as MetricTemplates. All measure the
// canary workload ({{ target }}), not the primary.
import { BuiltinMetrics, type CanaryProvider } from '../../api/types.ts';

export type BuiltinMetricName = (typeof BuiltinMetrics)[number];

/** Where the request series come from, which decides the PromQL. */
export type MetricsSource = 'nginx' | 'istio' | 'linkerd' | 'app';

export function isBuiltinMetric(name: string): name is BuiltinMetricName {
  return (BuiltinMetrics as readonly string[]).includes(name);
}

/**
 * The series source of each router. The kubernetes and Gateway API routers
 * have no data plane of their own that sluice can rely on, and SMI is an API
 * implemented by several meshes with different metrics, so those use the
 * application's own instrumentation (podinfo-style http_request_duration_seconds
 * scraped by the classic kubernetes-pods job), as Flagger's kubernetes provider.
 */
export const METRICS_SOURCE_BY_PROVIDER: Readonly<Record<CanaryProvider, MetricsSource>> = {
  kubernetes: 'app',
  nginx: 'nginx',
  istio: 'istio',
  linkerd: 'linkerd',
  smi: 'app',
  'smi:v1alpha4': 'app',
  gatewayapi: 'app',
  'gatewayapi:v1': 'app',
};

// Selectors of the canary's requests per source.
const nginx = 'namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""';
const istio = 'reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"';
const linkerd = 'namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"';
// A Deployment's pods are <name>-<replicaset hash>-<pod suffix>; the shape keeps
// "<target>-primary-..." out.
const app = 'kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"';

const ratio = (metric: string, selector: string, success: string): string =>
  `sum(rate(${metric}{${selector},${success}}[{{ interval }}])) / sum(rate(${metric}{${selector}}[{{ interval }}])) * 100`;

const p99 = (bucket: string, selector: string, toMs: string): string =>
  `histogram_quantile(0.99, sum(rate(${bucket}{${selector}}[{{ interval }}])) by (le))${toMs}`;

export const BUILTIN_QUERY_TEMPLATES: Readonly<Record<MetricsSource, Readonly<Record<BuiltinMetricName, string>>>> = {
  nginx: {
    'request-success-rate': ratio('nginx_ingress_controller_requests', nginx, 'status!~"5.*"'),
    'request-duration': p99('nginx_ingress_controller_response_duration_seconds_bucket', nginx, ' * 1000'),
  },
  istio: {
    'request-success-rate': ratio('istio_requests_total', istio, 'response_code!~"5.*"'),
    'request-duration': p99('istio_request_duration_milliseconds_bucket', istio, ''),
  },
  linkerd: {
    'request-success-rate': ratio('response_total', linkerd, 'classification!="failure"'),
    'request-duration': p99('response_latency_ms_bucket', linkerd, ''),
  },
  app: {
    'request-success-rate': ratio('http_request_duration_seconds_count', app, 'status!~"5.*"'),
    'request-duration': p99('http_request_duration_seconds_bucket', app, ' * 1000'),
  },
};

/** The query template of a built-in metric for a router. */
export function builtinQueryTemplate(provider: CanaryProvider, metric: BuiltinMetricName): string {
  return BUILTIN_QUERY_TEMPLATES[METRICS_SOURCE_BY_PROVIDER[provider]][metric];
}
