import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Canary, CanaryMetric, CanaryProvider, MetricTemplate } from '../../api/types.ts';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { BUILTIN_QUERY_TEMPLATES } from './builtin.ts';
import { prepareMetric, type ObjectSource, type ResolveContext, type Secret } from './resolve.ts';

function canaryWith(metrics: CanaryMetric[], extra: Partial<Canary['spec']> = {}): Canary {
  return {
    apiVersion: 'sluice.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name: 'podinfo', namespace: 'shop', generation: 1 },
    spec: {
      targetRef: { kind: 'Deployment', name: 'podinfo' },
      service: { port: 9898, name: 'podinfo-svc' },
      analysis: { interval: '1m', threshold: 5, stepWeight: 10, metrics },
      ...extra,
    },
  };
}

function mapSource<T extends { metadata: { namespace?: string; name: string } }>(objects: T[]): ObjectSource<T> {
  return { get: (namespace, name) => objects.find((o) => o.metadata.namespace === namespace && o.metadata.name === name) };
}

function template(namespace: string, name: string, query: string, provider: MetricTemplate['spec']['provider'] = {}): MetricTemplate {
  return { apiVersion: 'sluice.dev/v1alpha1', kind: 'MetricTemplate', metadata: { namespace, name }, spec: { provider, query } };
}

function secret(namespace: string, name: string, data: Record<string, string>): Secret {
  const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  return { apiVersion: 'v1', kind: 'Secret', metadata: { namespace, name }, data: encoded };
}

const context = (overrides: Partial<ResolveContext> = {}): ResolveContext => ({
  templates: mapSource<MetricTemplate>([]),
  secrets: mapSource<Secret>([]),
  config: { metricsServer: 'http://prometheus.monitoring:9090' },
  ...overrides,
});

function specInvalid(pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof SluiceError, String(error));
    assert.equal(error.code, ErrorCodes.SpecInvalid);
    assert.match(error.message, pattern);
    return true;
  };
}

// The exact PromQL each router's built-ins render to for shop/podinfo over 2m.
const expected: Record<'nginx' | 'istio' | 'linkerd' | 'app', [string, string]> = {
  nginx: [
    'sum(rate(nginx_ingress_controller_requests{namespace="shop",ingress="podinfo-ing",canary!="",status!~"5.*"}[120s])) / sum(rate(nginx_ingress_controller_requests{namespace="shop",ingress="podinfo-ing",canary!=""}[120s])) * 100',
    'histogram_quantile(0.99, sum(rate(nginx_ingress_controller_response_duration_seconds_bucket{namespace="shop",ingress="podinfo-ing",canary!=""}[120s])) by (le)) * 1000',
  ],
  istio: [
    'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="shop",destination_workload=~"podinfo",response_code!~"5.*"}[120s])) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="shop",destination_workload=~"podinfo"}[120s])) * 100',
    'histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="shop",destination_workload=~"podinfo"}[120s])) by (le))',
  ],
  linkerd: [
    'sum(rate(response_total{namespace="shop",deployment=~"podinfo",direction="inbound",classification!="failure"}[120s])) / sum(rate(response_total{namespace="shop",deployment=~"podinfo",direction="inbound"}[120s])) * 100',
    'histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="shop",deployment=~"podinfo",direction="inbound"}[120s])) by (le))',
  ],
  app: [
    'sum(rate(http_request_duration_seconds_count{kubernetes_namespace="shop",kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",status!~"5.*"}[120s])) / sum(rate(http_request_duration_seconds_count{kubernetes_namespace="shop",kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[120s])) * 100',
    'histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{kubernetes_namespace="shop",kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[120s])) by (le)) * 1000',
  ],
};

const routers: [CanaryProvider, keyof typeof expected][] = [
  ['nginx', 'nginx'], ['istio', 'istio'], ['linkerd', 'linkerd'], ['kubernetes', 'app'],
  ['gatewayapi', 'app'], ['gatewayapi:v1', 'app'], ['smi', 'app'], ['smi:v1alpha4', 'app'],
];

describe('built-in metrics', () => {
  for (const [router, source] of routers) {
    it(`render request-success-rate and request-duration for ${router}`, async () => {
      const canary = canaryWith(
        [
          { name: 'request-success-rate', interval: '2m', thresholdRange: { min: 99 } },
          { name: 'request-duration', interval: '2m', thresholdRange: { max: 500 } },
        ],
        { provider: router, ingressRef: { kind: 'Ingress', name: 'podinfo-ing' } },
      );
      const rate = await prepareMetric(canary, 0, context());
      const duration = await prepareMetric(canary, 1, context());
      assert.deepEqual([rate.query, duration.query], expected[source]);
      assert.equal(rate.source, `built-in request-success-rate for ${router}`);
      assert.deepEqual(rate.range, { min: 99 });
      assert.deepEqual(rate.provider, { type: 'prometheus', address: 'http://prometheus.monitoring:9090', timeoutMs: 10_000 });
    });
  }

  it('every template uses only the documented variables', () => {
    for (const templates of Object.values(BUILTIN_QUERY_TEMPLATES)) {
      for (const query of Object.values(templates)) {
        for (const match of query.matchAll(/\{\{ (\w+) \}\}/g)) assert.ok(['namespace', 'target', 'ingress', 'interval'].includes(match[1] ?? ''), query);
      }
    }
  });

  it('default to the configured router and a 1m interval', async () => {
    const canary = canaryWith([{ name: 'request-success-rate', thresholdRange: { min: 99 } }]);
    const prepared = await prepareMetric(canary, 0, context({ config: { metricsServer: 'http://p:9090', defaultRouter: 'istio' } }));
    assert.match(prepared.query, /istio_requests_total\{.*\}\[60s\]/);
    assert.equal(prepared.onNoData, 'fail');
  });

  it('nginx without an ingressRef is a configuration error naming the variable', async () => {
    const canary = canaryWith([{ name: 'request-success-rate', thresholdRange: { min: 99 } }], { provider: 'nginx' });
    await assert.rejects(prepareMetric(canary, 0, context()), specInvalid(/\{\{ ingress \}\} has no value \(the Canary has no spec.ingressRef\)/));
  });

  it('spec.metricsServer overrides the controller default; no address at all is an error', async () => {
    const canary = canaryWith([{ name: 'request-duration', thresholdRange: { max: 500 } }], { metricsServer: 'http://own:9090' });
    assert.equal((await prepareMetric(canary, 0, context())).provider.address, 'http://own:9090');
    const bare = canaryWith([{ name: 'request-duration', thresholdRange: { max: 500 } }]);
    await assert.rejects(prepareMetric(bare, 0, context({ config: {} })), specInvalid(/no Prometheus address/));
  });
});

describe('MetricTemplate references', () => {
  const errors = template('shop', 'errors', 'sum(rate(http_errors{ns="{{ namespace }}",svc="{{ service }}",route="{{ route }}"}[{{ interval }}]))', {
    address: 'https://prom.example:9090', insecureSkipVerify: true, headers: { 'X-Scope-OrgID': 'tenant-a' }, secretRef: { name: 'prom-auth' },
  });

  it('renders the template with the Canary variables and templateVariables, with credentials from the Secret', async () => {
    const canary = canaryWith([{ name: 'errors', interval: '30s', templateRef: { name: 'errors' }, templateVariables: { route: '/api' }, thresholdRange: { max: 1 }, onNoData: 'hold', maxHoldChecks: 3 }]);
    const prepared = await prepareMetric(canary, 0, context({
      templates: mapSource([errors]),
      secrets: mapSource([secret('shop', 'prom-auth', { username: 'analysis', password: 's3cret\n' })]),
    }));
    assert.equal(prepared.query, 'sum(rate(http_errors{ns="shop",svc="podinfo-svc",route="/api"}[30s]))');
    assert.equal(prepared.source, 'MetricTemplate shop/errors');
    assert.deepEqual(prepared.provider, {
      type: 'prometheus', address: 'https://prom.example:9090', insecureSkipVerify: true, headers: { 'X-Scope-OrgID': 'tenant-a' },
      credentials: { type: 'basic', username: 'analysis', password: 's3cret' }, timeoutMs: 10_000,
    });
    assert.equal(prepared.onNoData, 'hold');
    assert.equal(prepared.maxHoldChecks, 3);
  });

  it('prefers a bearer token when the Secret has one', async () => {
    const canary = canaryWith([{ name: 'errors', templateRef: { name: 'errors' }, templateVariables: { route: '/' } }]);
    const prepared = await prepareMetric(canary, 0, context({
      templates: mapSource([errors]),
      secrets: mapSource([secret('shop', 'prom-auth', { token: 'abc.def\n', username: 'u', password: 'p' })]),
    }));
    assert.deepEqual(prepared.provider.credentials, { type: 'bearer', token: 'abc.def' });
  });

  it('rejects a template with an unknown variable, naming it and the template', async () => {
    const canary = canaryWith([{ name: 'errors', templateRef: { name: 'errors' } }]);
    await assert.rejects(
      prepareMetric(canary, 0, context({ templates: mapSource([errors]), secrets: mapSource([secret('shop', 'prom-auth', { token: 't' })]) })),
      specInvalid(/MetricTemplate shop\/errors \(used by spec.analysis.metrics\[0\] \(errors\)\): query template has unknown variable \{\{ route \}\}/),
    );
  });

  it('reports a missing template, a missing Secret and a Secret without credentials', async () => {
    const canary = canaryWith([{ name: 'errors', templateRef: { name: 'errors' }, templateVariables: { route: '/' } }]);
    await assert.rejects(prepareMetric(canary, 0, context()), specInvalid(/MetricTemplate shop\/errors not found/));
    await assert.rejects(
      prepareMetric(canary, 0, context({ templates: mapSource([errors]) })),
      specInvalid(/Secret shop\/prom-auth \(provider.secretRef of MetricTemplate shop\/errors\) not found/),
    );
    await assert.rejects(
      prepareMetric(canary, 0, context({ templates: mapSource([errors]), secrets: mapSource([secret('shop', 'prom-auth', { user: 'x' })]) })),
      specInvalid(/has neither a token key nor username and password keys/),
    );
  });

  it('follows cross-namespace references unless the controller forbids them', async () => {
    const shared = template('monitoring', 'latency', 'max(x{ns="{{ namespace }}"})');
    const canary = canaryWith([{ name: 'latency', templateRef: { name: 'latency', namespace: 'monitoring' } }]);
    const allowed = await prepareMetric(canary, 0, context({ templates: mapSource([shared]) }));
    assert.equal(allowed.query, 'max(x{ns="shop"})');
    assert.equal(allowed.provider.address, 'http://prometheus.monitoring:9090');
    await assert.rejects(
      prepareMetric(canary, 0, context({ templates: mapSource([shared]), config: { metricsServer: 'http://p', allowCrossNamespaceRefs: false } })),
      specInvalid(/crosses namespaces, which this controller does not allow/),
    );
  });

  it('rejects templateVariables that would shadow a built-in variable', async () => {
    const canary = canaryWith([{ name: 'errors', templateRef: { name: 'errors' }, templateVariables: { namespace: 'other', route: '/' } }]);
    await assert.rejects(prepareMetric(canary, 0, context({ templates: mapSource([errors]) })), specInvalid(/templateVariables.namespace would shadow/));
  });

  it('renders an inline query strictly too', async () => {
    const canary = canaryWith([{ name: 'custom', query: 'sum(x{ns="{{ namespace }}",v="{{ version }}"})' }]);
    await assert.rejects(prepareMetric(canary, 0, context()), specInvalid(/unknown variable \{\{ version \}\}/));
  });
});
