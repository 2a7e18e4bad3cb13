// Turns one entry of a Canary's analysis.metrics into what a check needs: the
// rendered query, the provider settings (with credentials from a Secret), the
// threshold range and the no-data policy. Everything that can be wrong in the
// user's configuration is found here, before any query runs, as a
// SluiceError(SpecInvalid) that names the metric and the object at fault.
import type {
  Canary,
  CanaryMetric,
  CanaryProvider,
  KubeObject,
  MetricTemplate,
  OnNoDataPolicy,
  ThresholdRange,
} from '../../api/types.ts';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import type { KubeClient } from '../../kube/client.ts';
import { builtinQueryTemplate, isBuiltinMetric } from './builtin.ts';
import type { ProviderConfig, ProviderCredentials } from './providers/provider.ts';
import {
  BUILTIN_VARIABLES,
  DEFAULT_METRIC_INTERVAL,
  promqlDuration,
  renderQuery,
  type TemplateVariables,
} from './render.ts';

/** Reads objects by namespace and name; an Informer is one, and objectSource() wraps a KubeClient. */
export interface ObjectSource<T> {
  get(namespace: string, name: string): T | undefined | Promise<T | undefined>;
}

export interface Secret extends KubeObject<'Secret'> {
  /** Base64-encoded values. */
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** The controller-wide settings of analysis (flags of the controller). */
export interface AnalysisConfig {
  /** Prometheus for built-in metrics, inline queries and MetricTemplates without an address. */
  metricsServer?: string | undefined;
  /** Router assumed when a Canary sets no spec.provider. Default "kubernetes". */
  defaultRouter?: CanaryProvider | undefined;
  /** Whether a Canary may use a MetricTemplate in another namespace. Default true. */
  allowCrossNamespaceRefs?: boolean | undefined;
  /** Time limit of one query. Default 10 s. */
  queryTimeoutMs?: number | undefined;
}

export interface ResolveContext {
  /** MetricTemplates, normally an informer's cache. */
  templates: ObjectSource<MetricTemplate>;
  /** Secrets holding provider credentials. */
  secrets: ObjectSource<Secret>;
  config?: AnalysisConfig | undefined;
}

export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
/** Consecutive no-data checks `onNoData: hold` waits through when maxHoldChecks is unset. */
export const DEFAULT_MAX_HOLD_CHECKS = 10;

/** One metric check, ready to run. */
export interface PreparedMetric {
  name: string;
  /** Where the query came from, e.g. "built-in request-success-rate for istio" or "MetricTemplate shop/errors". */
  source: string;
  query: string;
  provider: ProviderConfig;
  range: ThresholdRange;
  onNoData: OnNoDataPolicy;
  maxHoldChecks: number;
}

/** A source backed by direct API reads, for callers without an informer (CLI, tests). */
export function objectSource<T extends KubeObject>(client: KubeClient, apiVersion: string, kind: string): ObjectSource<T> {
  return {
    get: (namespace, name) => client.find<T>({ apiVersion, kind, namespace, name }),
  };
}

function invalid(message: string, hint: string): SluiceError {
  return new SluiceError(ErrorCodes.SpecInvalid, message, { hint });
}

function canaryNamespace(canary: Canary): string {
  const namespace = canary.metadata.namespace;
  if (!namespace) throw invalid(`Canary ${canary.metadata.name} has no namespace`, 'Canaries are namespaced; read them from the API');
  return namespace;
}

/** The variables a Canary gives a metric's query template. */
export function canaryVariables(canary: Canary, metric: CanaryMetric, where: string): TemplateVariables {
  const values: Record<string, string | undefined> = {
    namespace: canaryNamespace(canary),
    target: canary.spec.targetRef.name,
    service: canary.spec.service.name ?? canary.spec.targetRef.name,
    ingress: canary.spec.ingressRef?.name,
    interval: promqlDuration(metric.interval ?? DEFAULT_METRIC_INTERVAL, `${where}.interval`),
  };
  for (const [name, value] of Object.entries(metric.templateVariables ?? {})) {
    if ((BUILTIN_VARIABLES as readonly string[]).includes(name)) {
      throw invalid(
        `${where}.templateVariables.${name} would shadow the built-in variable {{ ${name} }}`,
        'rename the template variable',
      );
    }
    values[name] = value;
  }
  return { values, why: { ingress: 'the Canary has no spec.ingressRef' } };
}

function decodeSecretValue(secret: Secret, key: string): string | undefined {
  const encoded = secret.data?.[key];
  const value = encoded !== undefined ? Buffer.from(encoded, 'base64').toString('utf8') : secret.stringData?.[key];
  // `kubectl create secret --from-file` keeps a file's final newline, which
  // is never part of a token and is not even allowed in a header.
  return value?.replace(/[\r\n]+$/, '');
}

async function credentialsFrom(secrets: ObjectSource<Secret>, namespace: string, name: string, where: string): Promise<ProviderCredentials> {
  const secret = await secrets.get(namespace, name);
  if (!secret) {
    throw invalid(`Secret ${namespace}/${name} (${where}) not found`, 'create the Secret with a token key, or username and password keys');
  }
  const token = decodeSecretValue(secret, 'token');
  if (token) return { type: 'bearer', token };
  const username = decodeSecretValue(secret, 'username');
  const password = decodeSecretValue(secret, 'password');
  if (username && password !== undefined) return { type: 'basic', username, password };
  throw invalid(
    `Secret ${namespace}/${name} (${where}) has neither a token key nor username and password keys`,
    'put a bearer token under "token", or basic-auth credentials under "username" and "password"',
  );
}

function defaultAddress(config: AnalysisConfig | undefined, canary: Canary, where: string): string {
  const address = canary.spec.metricsServer ?? config?.metricsServer;
  if (!address) {
    throw invalid(`${where}: no Prometheus address`, "set the Canary's spec.metricsServer, the MetricTemplate's provider.address, or the controller's metrics server");
  }
  return address;
}

/**
 * Prepares one metric check of a Canary. Throws SluiceError(SpecInvalid) for
 * configuration errors; errors of the object sources pass through.
 */
export async function prepareMetric(canary: Canary, index: number, context: ResolveContext): Promise<PreparedMetric> {
  const metric = canary.spec.analysis.metrics?.[index];
  if (!metric) throw new SluiceError(ErrorCodes.Internal, `Canary ${canary.metadata.name} has no metric ${index}`);
  const where = `spec.analysis.metrics[${index}] (${metric.name})`;
  const config = context.config;
  const namespace = canaryNamespace(canary);
  const timeoutMs = config?.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const variables = canaryVariables(canary, metric, where);
  const common = {
    name: metric.name,
    range: metric.thresholdRange ?? {},
    onNoData: metric.onNoData ?? 'fail',
    maxHoldChecks: metric.maxHoldChecks ?? DEFAULT_MAX_HOLD_CHECKS,
  } as const;

  if (metric.templateRef) {
    const ref = { namespace: metric.templateRef.namespace ?? namespace, name: metric.templateRef.name };
    const source = `MetricTemplate ${ref.namespace}/${ref.name}`;
    if (ref.namespace !== namespace && config?.allowCrossNamespaceRefs === false) {
      throw invalid(
        `${where}: templateRef to ${source} crosses namespaces, which this controller does not allow`,
        `copy the MetricTemplate into namespace ${namespace}`,
      );
    }
    const template = await context.templates.get(ref.namespace, ref.name);
    if (!template) throw invalid(`${where}: ${source} not found`, 'create the MetricTemplate, or fix templateRef');
    const spec = template.spec.provider;
    const credentials = spec.secretRef
      ? await credentialsFrom(context.secrets, ref.namespace, spec.secretRef.name, `provider.secretRef of ${source}`)
      : undefined;
    return {
      ...common,
      source,
      query: renderQuery(template.spec.query, variables, { source: `${source} (used by ${where})` }),
      provider: {
        type: spec.type ?? 'prometheus',
        address: spec.address ?? defaultAddress(config, canary, `${where} via ${source}`),
        credentials,
        insecureSkipVerify: spec.insecureSkipVerify,
        headers: spec.headers,
        timeoutMs,
      },
    };
  }

  const provider: ProviderConfig = { type: 'prometheus', address: defaultAddress(config, canary, where), timeoutMs };
  if (metric.query !== undefined) {
    return { ...common, source: 'inline query', query: renderQuery(metric.query, variables, { source: `${where} inline query` }), provider };
  }
  if (!isBuiltinMetric(metric.name)) {
    throw invalid(`${where}: not a built-in metric and has neither templateRef nor query`, 'add a templateRef to a MetricTemplate');
  }
  const router = canary.spec.provider ?? config?.defaultRouter ?? 'kubernetes';
  const source = `built-in ${metric.name} for ${router}`;
  return { ...common, source, query: renderQuery(builtinQueryTemplate(router, metric.name), variables, { source: `${where} ${source}` }), provider };
}
