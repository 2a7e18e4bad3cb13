// The Canary controller running metric analysis every tick against a real
// Prometheus scraping the traffic generator: a healthy canary is promoted; a
// canary whose success rate is below the threshold is rolled back after
// `threshold` failed checks, with the failing check, its value and threshold
// in status and events.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Canary, CanaryAnalysis } from '../src/api/types.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { canaryMetrics } from '../src/runtime/metrics.ts';
import { applyDeployment, canaryObject, getCanary, startController, waitForPhase, type CanaryHarness } from './env/canary.ts';
import { createTestNamespace, eventually, testKubeClient } from './env/cluster.ts';
import { deploymentYaml } from './env/manifests.ts';
import { startPrometheus, type PrometheusInstance } from './env/prometheus.ts';
import { startTrafficGenerator, type TrafficGenerator } from './env/traffic-generator.ts';

const logger = pino({ level: 'silent' });

function canary(namespace: string, name: string, analysis: CanaryAnalysis = {}): Canary {
  return canaryObject(namespace, name, 'istio', {
    stepWeight: 50,
    metrics: [{ name: 'request-success-rate', interval: '5s', thresholdRange: { min: 99 }, onNoData: 'hold' }],
    ...analysis,
  }, { service: { port: 80 } });
}

describe('Canary analysis with the real Prometheus', () => {
  let client: KubeClient;
  let generator: TrafficGenerator;
  let prometheus: PrometheusInstance;
  let controller: CanaryHarness;
  let namespace: string;

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('canary-analysis');
    generator = await startTrafficGenerator();
    await generator.setTarget({ namespace, name: 'good', rps: 50, errorRate: 0, latencyMs: 10 });
    await generator.setTarget({ namespace, name: 'bad', rps: 50, errorRate: 0.3, latencyMs: 10 });
    prometheus = await startPrometheus({ scrapeTargets: [generator.address] });
    controller = await startController(client, namespace, { logger, metricsServer: prometheus.url });
  });

  after(async () => {
    await controller?.stop();
    await prometheus?.stop();
    await generator?.stop();
    client?.close();
  });

  const phase = (name: string, want: string): Promise<Canary> => waitForPhase(client, namespace, name, want, 90_000, 250);

  test('a healthy canary is promoted; a failing one rolls back with the check, value and threshold', async () => {
    for (const name of ['good', 'bad']) {
      await applyDeployment(namespace, deploymentYaml(name, 'example.com/app:1'), { forceConflicts: false });
      await client.apply(canary(namespace, name));
    }
    for (const name of ['good', 'bad']) {
      const initialized = await phase(name, 'Initialized');
      const available = initialized.status?.conditions?.find((c) => c.type === 'MetricsAvailable');
      assert.equal(available?.status, 'True', available?.message);
      await applyDeployment(namespace, deploymentYaml(name, 'example.com/app:2'));
    }

    const good = await phase('good', 'Succeeded');
    const goodCheck = good.status?.metrics?.[0];
    assert.equal(goodCheck?.result, 'Pass');
    assert.equal(goodCheck?.reason, 'WithinRange');
    assert.equal(goodCheck?.value, 100);
    assert.match(goodCheck?.query ?? '', /istio_requests_total/);

    const bad = await phase('bad', 'Failed');
    assert.equal(bad.status?.failedChecks, 2);
    const badCheck = bad.status?.metrics?.[0];
    assert.equal(badCheck?.result, 'Fail');
    assert.equal(badCheck?.reason, 'OutOfRange');
    assert.ok(badCheck?.value !== undefined && badCheck.value < 80 && badCheck.value > 60, `value ${badCheck?.value}`);
    assert.match(bad.status?.failedRevision?.reason ?? '', /request-success-rate is [0-9.]+, below the minimum 99/);
    assert.equal(bad.status?.conditions?.find((c) => c.type === 'FailedRevisionDeclared')?.status, 'True');
    // The notifier records Events asynchronously.
    const events = await eventually(async () => {
      const list = await client.list<Canary & { reason: string; note: string; regarding: { name: string } }>('events.k8s.io/v1', 'Event', { namespace });
      return list.items.some((e) => e.regarding.name === 'bad' && e.reason === 'CanaryRolledBack') ? list.items : undefined;
    }, { timeoutMs: 10_000, what: 'CanaryRolledBack Event' });
    const rolledBack = events.find((e) => e.regarding.name === 'bad' && e.reason === 'CanaryRolledBack');
    assert.match(rolledBack?.note ?? '', /below the minimum 99/);
    assert.ok(events.some((e) => e.regarding.name === 'bad' && e.reason === 'OutOfRange'), 'analysis event for the failing check');

    // The Flagger-compatible series follow what happened.
    const exposition = (await canaryMetrics.registry.metrics()).split('\n');
    /** The value of the series with this name and (at least) these labels, in any label order. */
    const sample = (name: string, labels: Record<string, string>): number => {
      const line = exposition.find((l) => l.startsWith(`${name}{`) && Object.entries({ ...labels, namespace }).every(([k, v]) => l.includes(`${k}="${v}"`)));
      return Number(line?.split(' ').pop());
    };
    assert.equal(sample('sluice_canary_status', { name: 'good' }), 1);
    assert.equal(sample('sluice_canary_status', { name: 'bad' }), 2);
    assert.equal(sample('sluice_canary_successes_total', { name: 'good' }), 1);
    assert.equal(sample('sluice_canary_failures_total', { name: 'bad' }), 1);
    assert.equal(sample('sluice_canary_metric_analysis', { name: 'good', metric: 'request-success-rate' }), 100);
    assert.equal(sample('sluice_canary_weight', { workload: 'good-primary' }), 100);
    assert.equal(sample('sluice_canary_weight', { workload: 'bad' }), 0);
    assert.equal(sample('sluice_canary_duration_seconds_count', { name: 'good' }), 1);
  });
  /** Starts a rollout of `name` and resolves once the canary carries at least `weight` percent. */
  async function rolloutReaching(name: string, weight: number): Promise<void> {
    await applyDeployment(namespace, deploymentYaml(name, 'example.com/app:1'), { forceConflicts: false });
    await client.apply(canary(namespace, name, { stepWeight: 10, maxWeight: 50 }));
    await phase(name, 'Initialized');
    await applyDeployment(namespace, deploymentYaml(name, 'example.com/app:2'));
    await eventually(async () => {
      const got = await getCanary(client, namespace, name);
      return (got.status?.canaryWeight ?? 0) >= weight ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100, what: `${name} at weight ${weight}` });
  }

  test('errors rising mid-rollout roll back within threshold × interval plus one scrape', async (t) => {
    await generator.setTarget({ namespace, name: 'rising', rps: 50, errorRate: 0, latencyMs: 10 });
    await rolloutReaching('rising', 20);
    await generator.setTarget({ namespace, name: 'rising', rps: 50, errorRate: 0.5, latencyMs: 10 });
    const raised = Date.now();
    const failed = await phase('rising', 'Failed');
    const elapsed = Date.now() - raised;
    t.diagnostic(`rollback ${elapsed} ms after the error rate rose`);
    // threshold 2 × interval 2 s + one 1 s scrape, plus 1 s for the 5 s rate window to cross 99 %.
    assert.ok(elapsed <= 2 * 2_000 + 1_000 + 1_000, `rolled back after ${elapsed} ms`);
    assert.ok((failed.status?.canaryWeight ?? -1) === 0);
    assert.match(failed.status?.failedRevision?.reason ?? '', /request-success-rate is [0-9.]+, below the minimum 99/);
  });

  test('Prometheus stopped mid-rollout: failed checks say PrometheusUnavailable and the canary rolls back at threshold', async (t) => {
    await generator.setTarget({ namespace, name: 'dark', rps: 50, errorRate: 0, latencyMs: 10 });
    await rolloutReaching('dark', 20);
    await prometheus.pause();
    t.after(() => prometheus.resume());
    const failed = await phase('dark', 'Failed');
    assert.equal(failed.status?.failedChecks, 2);
    const check = failed.status?.metrics?.[0];
    assert.equal(check?.result, 'Error');
    assert.equal(check?.reason, 'PrometheusUnavailable');
    assert.match(failed.status?.failedRevision?.reason ?? '', /cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });
});
