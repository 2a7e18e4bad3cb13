// MetricTemplates and Secrets as real objects in the test cluster, read
// through an informer cache the way the controller will, against a real
// Prometheus behind basic auth: a template with a secretRef works, wrong
// credentials are PrometheusAuthFailed, an unknown template variable is
// rejected naming it, cross-namespace references follow the controller
// setting, and the results fit the Canary CRD's status and show in Events.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { setCondition } from '../src/api/conditions.ts';
import type { Canary, CanaryMetric, MetricTemplate } from '../src/api/types.ts';
import {
  analysisEvents,
  AnalysisMetrics,
  checkMetricProviders,
  objectSource,
  runAnalysis,
  toMetricStatuses,
  type AnalysisContext,
  type AnalysisResult,
  type Secret,
} from '../src/canary/analysis/index.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { EventRecorder } from '../src/kube/events.ts';
import { Informer } from '../src/kube/informer.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { createTestNamespace, eventually, testKubeClient } from './env/cluster.ts';
import { startPrometheus, type PrometheusInstance } from './env/prometheus.ts';
import { startTrafficGenerator, type TrafficGenerator } from './env/traffic-generator.ts';

const logger = pino({ level: 'silent' });
const auth = { username: 'sluice', password: 'correct-horse' };

// Percentage of 5xx answers of the target, from Istio's series.
const errorRateQuery =
  '100 - sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}",response_code!~"5.*"}[{{ interval }}]))' +
  ' / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}"}[{{ interval }}])) * 100';

function secret(namespace: string, name: string, data: Record<string, string>): Secret {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { namespace, name }, stringData: data };
}

function template(namespace: string, name: string, spec: MetricTemplate['spec']): MetricTemplate {
  return { apiVersion: 'sluice.dev/v1alpha1', kind: 'MetricTemplate', metadata: { namespace, name }, spec };
}

function canaryIn(namespace: string, metrics: CanaryMetric[]): Canary {
  return {
    apiVersion: 'sluice.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name: 'podinfo', namespace },
    spec: {
      provider: 'istio',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      service: { port: 9898 },
      analysis: { interval: '10s', threshold: 3, stepWeight: 20, maxWeight: 60, metrics },
    },
  };
}

describe('MetricTemplates from the cluster against Prometheus behind basic auth', () => {
  let client: KubeClient;
  let namespace: string;
  let shared: string;
  let generator: TrafficGenerator;
  let prometheus: PrometheusInstance;
  let templates: Informer<MetricTemplate>;
  let context: AnalysisContext;

  before(async () => {
    client = testKubeClient();
    [namespace, shared] = await Promise.all([createTestNamespace('analysis'), createTestNamespace('analysis-shared')]);
    generator = await startTrafficGenerator();
    await generator.setTarget({ namespace, name: 'podinfo', rps: 100, errorRate: 0.1, latencyMs: 10 });
    prometheus = await startPrometheus({ scrapeTargets: [generator.address], basicAuth: auth });

    const protectedAddress = prometheus.url;
    await client.apply(secret(namespace, 'prom-basic', auth));
    await client.apply(secret(namespace, 'prom-wrong', { username: auth.username, password: 'wrong' }));
    await client.apply(template(namespace, 'error-rate', { provider: { type: 'prometheus', address: protectedAddress, secretRef: { name: 'prom-basic' } }, query: errorRateQuery }));
    await client.apply(template(namespace, 'error-rate-wrong-password', { provider: { address: protectedAddress, secretRef: { name: 'prom-wrong' } }, query: errorRateQuery }));
    await client.apply(template(namespace, 'error-rate-no-secret', { provider: { address: protectedAddress }, query: errorRateQuery }));
    await client.apply(template(namespace, 'by-app', {
      provider: { address: protectedAddress, secretRef: { name: 'prom-basic' } },
      query: 'sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",app="{{ app }}"}[{{ interval }}]))',
    }));
    // The Secret of a template is read from the template's namespace.
    await client.apply(secret(shared, 'prom-basic', auth));
    await client.apply(template(shared, 'error-rate', { provider: { address: protectedAddress, secretRef: { name: 'prom-basic' } }, query: errorRateQuery }));

    templates = new Informer<MetricTemplate>(client, { apiVersion: 'sluice.dev/v1alpha1', kind: 'MetricTemplate', logger });
    templates.start();
    await templates.waitForSync(AbortSignal.timeout(20_000));
    await eventually(() => (templates.list(namespace).length === 4 && templates.list(shared).length === 1 ? true : undefined), { timeoutMs: 20_000, what: 'templates in the cache' });
    context = {
      templates,
      secrets: objectSource<Secret>(client, 'v1', 'Secret'),
      config: { queryTimeoutMs: 3_000 },
      metrics: new AnalysisMetrics(),
    };
  });

  after(async () => {
    await templates?.stop();
    await prometheus?.stop();
    await generator?.stop();
    client?.close();
  });

  async function analyseWithData(subject: Canary, extra: Partial<AnalysisContext> = {}): Promise<AnalysisResult> {
    const deadline = Date.now() + 30_000;
    let last: AnalysisResult | undefined;
    while (Date.now() < deadline) {
      last = await runAnalysis(subject, { ...context, ...extra });
      if (last.checks.every((c) => c.result !== 'NoData')) return last;
      await sleep(500);
    }
    assert.fail(`no data within 30 s: ${last?.message}`);
  }

  test('a MetricTemplate with a secretRef authenticates and measures', { timeout: 60_000 }, async () => {
    const subject = canaryIn(namespace, [{ name: 'error-rate', interval: '5s', templateRef: { name: 'error-rate' }, thresholdRange: { max: 5 } }]);
    const availability = await checkMetricProviders(subject, context);
    assert.equal(availability.condition.status, 'True', availability.condition.message);

    const result = await analyseWithData(subject);
    const check = result.checks[0];
    // 10 % errors against a maximum of 5 %: a real failure, measured through basic auth.
    assert.deepEqual([result.outcome, check?.result, check?.reason], ['fail', 'Fail', 'OutOfRange']);
    assert.ok(check?.value !== undefined && Math.abs(check.value - 10) < 1, `error rate ${check?.value}`);
    assert.equal(check.source, `MetricTemplate ${namespace}/error-rate`);
    assert.match(check.query ?? '', new RegExp(`destination_workload_namespace="${namespace}",destination_workload="podinfo".*\\[5s\\]`));

    const lenient = await analyseWithData(canaryIn(namespace, [{ name: 'error-rate', interval: '5s', templateRef: { name: 'error-rate' }, thresholdRange: { max: 15 } }]));
    assert.equal(lenient.outcome, 'pass', lenient.message);
  });

  test('wrong or missing credentials are PrometheusAuthFailed, in the check and in the condition', async () => {
    const subject = canaryIn(namespace, [
      { name: 'wrong-password', interval: '5s', templateRef: { name: 'error-rate-wrong-password' }, thresholdRange: { max: 5 } },
      { name: 'no-secret', interval: '5s', templateRef: { name: 'error-rate-no-secret' }, thresholdRange: { max: 5 } },
    ]);
    const result = await runAnalysis(subject, context);
    for (const check of result.checks) {
      assert.deepEqual([check.result, check.outcome, check.reason], ['Error', 'fail', 'PrometheusAuthFailed'], check.message);
      assert.match(check.message, /answered HTTP 401/);
    }
    const availability = await checkMetricProviders(subject, context);
    assert.deepEqual([availability.condition.status, availability.condition.reason], ['False', 'PrometheusAuthFailed']);
    assert.equal(availability.providers.length, 2);
  });

  test('a template with an unknown variable is rejected naming it, before any query', async () => {
    const subject = canaryIn(namespace, [{ name: 'by-app', interval: '5s', templateRef: { name: 'by-app' }, thresholdRange: { min: 1 } }]);
    const availability = await checkMetricProviders(subject, context);
    assert.equal(availability.condition.status, 'False');
    assert.equal(availability.condition.reason, 'SpecInvalid');
    assert.match(availability.condition.message, new RegExp(`metric by-app: MetricTemplate ${namespace}/by-app .*unknown variable \\{\\{ app \\}\\}`));
    const [check] = (await runAnalysis(subject, context)).checks;
    assert.deepEqual([check?.result, check?.reason, check?.query], ['Error', 'SpecInvalid', undefined]);

    // With the variable supplied by the Canary, the same template runs.
    const fixed = canaryIn(namespace, [{ name: 'by-app', interval: '5s', templateRef: { name: 'by-app' }, templateVariables: { app: 'podinfo' }, thresholdRange: { min: 0 } }]);
    const [ran] = (await runAnalysis(fixed, context)).checks;
    assert.notEqual(ran?.reason, 'SpecInvalid', ran?.message);
    assert.match(ran?.query ?? '', /app="podinfo"/);
  });

  test('a template in another namespace is used unless cross-namespace references are disabled', { timeout: 60_000 }, async () => {
    const subject = canaryIn(namespace, [{ name: 'error-rate', interval: '5s', templateRef: { name: 'error-rate', namespace: shared }, thresholdRange: { max: 15 } }]);
    const allowed = await analyseWithData(subject);
    assert.equal(allowed.outcome, 'pass', allowed.message);
    const denied = await runAnalysis(subject, { ...context, config: { ...context.config, allowCrossNamespaceRefs: false } });
    assert.deepEqual([denied.checks[0]?.result, denied.checks[0]?.reason], ['Error', 'SpecInvalid']);
    assert.match(denied.checks[0]?.message ?? '', /crosses namespaces/);
  });

  test('results fit the Canary status schema and appear as Events with the query and the answer', { timeout: 60_000 }, async () => {
    const subject = canaryIn(namespace, [
      { name: 'error-rate', interval: '5s', templateRef: { name: 'error-rate' }, thresholdRange: { max: 5 } },
      { name: 'wrong-password', interval: '5s', templateRef: { name: 'error-rate-wrong-password' }, thresholdRange: { max: 5 } },
      { name: 'by-app', interval: '5s', templateRef: { name: 'by-app' }, thresholdRange: { min: 1 }, onNoData: 'hold', maxHoldChecks: 3 },
    ]);
    const applied = await client.apply<Canary>(subject);
    const result = await analyseWithData(applied);
    const availability = await checkMetricProviders(applied, context);
    const ref = { apiVersion: applied.apiVersion, kind: applied.kind, namespace, name: applied.metadata.name };
    const patched = await client.patchStatus<Canary>(ref, {
      conditions: setCondition(undefined, availability.condition),
      failedChecks: result.outcome === 'fail' ? 1 : 0,
      metrics: toMetricStatuses(result),
    });
    // The API server prunes fields its schema does not know; everything must survive.
    assert.deepEqual(patched.status?.metrics, toMetricStatuses(result));
    const [rate, wrong, byApp] = patched.status?.metrics ?? [];
    assert.equal(rate?.result, 'Fail');
    assert.ok(rate?.value !== undefined && rate.max === 5);
    assert.match(rate?.message ?? '', /^OutOfRange: error-rate is .*, above the maximum 5; query: 100 - sum\(rate\(istio_requests_total/);
    assert.equal(wrong?.result, 'Error');
    assert.match(wrong?.message ?? '', /^PrometheusAuthFailed: .*HTTP 401/);
    assert.equal(byApp?.result, 'Error');
    assert.match(byApp?.message ?? '', /^SpecInvalid: .*unknown variable \{\{ app \}\}/);
    assert.equal(patched.status?.conditions?.[0]?.type, 'MetricsAvailable');
    assert.equal(patched.status?.conditions?.[0]?.status, 'False');

    const recorder = new EventRecorder(client, { logger });
    for (const event of analysisEvents(applied, result)) assert.equal(await recorder.record(event), true);
    const events = await client.list<KubeObject & { reason?: string; note?: string; type?: string }>('events.k8s.io/v1', 'Event', { namespace });
    const byReason = new Map(events.items.map((e) => [e.reason, e]));
    assert.equal(byReason.get('OutOfRange')?.type, 'Warning');
    assert.match(byReason.get('OutOfRange')?.note ?? '', /^metric error-rate: error-rate is [\d.]+, above the maximum 5; query: 100 - sum/);
    assert.match(byReason.get('PrometheusAuthFailed')?.note ?? '', /^metric wrong-password: Prometheus at .* answered HTTP 401/);
    assert.match(byReason.get('SpecInvalid')?.note ?? '', /unknown variable \{\{ app \}\}/);
  });
});
