// Canary analysis against a real Prometheus scraping the traffic generator:
// the built-in checks of every router report the value Prometheus computes
// and pass or fail on it; Prometheus going away, a query that returns several
// series, and no traffic are distinct outcomes; and a simulated controller
// tick loop reaches the failure threshold within threshold × interval plus one
// scrape after the canary's error rate rises (or Prometheus stops).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PrometheusDriver, type InstantVector, type SampleValue } from 'prometheus-query';
import type { Canary, CanaryMetric, CanaryProvider } from '../src/api/types.ts';
import {
  AnalysisMetrics,
  checkMetricProviders,
  runAnalysis,
  type AnalysisContext,
  type AnalysisResult,
  type MetricCheck,
} from '../src/canary/analysis/index.ts';
import { startPrometheus, type PrometheusInstance } from './env/prometheus.ts';
import { startTrafficGenerator, type TrafficGenerator, type TrafficTarget } from './env/traffic-generator.ts';

const NS = 'shop';
const SCRAPE_MS = 1_000;
/** Query range of every check here: a few scrapes, so changes show within seconds. */
const WINDOW = '5s';
const SETTLE_MS = 30_000;

const routers: CanaryProvider[] = ['nginx', 'istio', 'linkerd', 'kubernetes'];

function target(name: string, extra: Partial<TrafficTarget> = {}): TrafficTarget {
  // canary: true puts the requests on nginx's canary upstream, which the nginx built-ins select.
  return { namespace: NS, name, ingress: name, canary: true, rps: 100, errorRate: 0, latencyMs: 10, ...extra };
}

function canary(name: string, provider: CanaryProvider, metrics: CanaryMetric[], analysis: Partial<Canary['spec']['analysis']> = {}): Canary {
  return {
    apiVersion: 'sluice.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name, namespace: NS, generation: 1 },
    spec: {
      provider,
      targetRef: { kind: 'Deployment', name },
      ingressRef: { kind: 'Ingress', name },
      service: { port: 80 },
      analysis: { interval: '2s', threshold: 3, stepWeight: 10, ...analysis, metrics },
    },
  };
}

const successRate = (extra: Partial<CanaryMetric> = {}): CanaryMetric => ({ name: 'request-success-rate', interval: WINDOW, thresholdRange: { min: 99 }, ...extra });
const duration = (extra: Partial<CanaryMetric> = {}): CanaryMetric => ({ name: 'request-duration', interval: WINDOW, thresholdRange: { max: 500 }, ...extra });

describe('analysis against the real Prometheus', () => {
  let generator: TrafficGenerator;
  let prometheus: PrometheusInstance;
  let driver: PrometheusDriver;
  let context: AnalysisContext;
  const metrics = new AnalysisMetrics();

  before(async () => {
    generator = await startTrafficGenerator();
    await generator.setTarget(target('stable'));
    await generator.setTarget(target('faulty', { errorRate: 0.2 }));
    // Log-normal with p99 900 ms: above every router's 500 ms bucket bound.
    await generator.setTarget(target('slow', { latencyMs: { p50: 300, p99: 900 } }));
    await generator.setTarget(target('flaky'));
    await generator.setTarget(target('drained'));
    await generator.setTarget(target('idle', { rps: 0 }));
    prometheus = await startPrometheus({ scrapeTargets: [generator.address], scrapeIntervalSeconds: SCRAPE_MS / 1000 });
    driver = new PrometheusDriver({ endpoint: prometheus.url, timeout: 5_000 });
    context = {
      templates: { get: () => undefined },
      secrets: { get: () => undefined },
      config: { metricsServer: prometheus.url, queryTimeoutMs: 3_000 },
      metrics,
    };
  });

  after(async () => {
    await prometheus?.stop();
    await generator?.stop();
  });

  /** Runs analysis until every check has data (bounded), then returns that round. */
  async function analyseWithData(subject: Canary): Promise<AnalysisResult> {
    const deadline = Date.now() + SETTLE_MS;
    let last: AnalysisResult | undefined;
    while (Date.now() < deadline) {
      last = await runAnalysis(subject, context);
      if (last.checks.every((c) => c.result !== 'NoData' && c.result !== 'Hold')) return last;
      await sleep(500);
    }
    assert.fail(`no data for ${subject.metadata.name} within ${SETTLE_MS} ms: ${last?.message}`);
  }

  /** The value Prometheus gives for a check's query, asked directly. */
  async function direct(check: MetricCheck | undefined): Promise<number> {
    assert.ok(check?.query, 'the check carries its query');
    const result = await driver.instantQuery(check.query);
    const series = result.result as InstantVector[];
    assert.equal(series.length, 1);
    return (series[0]?.value as SampleValue).value;
  }

  test('provider availability is a True condition', async () => {
    const availability = await checkMetricProviders(canary('stable', 'istio', [successRate(), duration()]), context);
    assert.equal(availability.condition.status, 'True', availability.condition.message);
    assert.equal(availability.condition.reason, 'Available');
    assert.match(availability.condition.message, new RegExp(`prometheus at ${prometheus.url} answers \\(request-success-rate, request-duration\\)`));
  });

  for (const router of routers) {
    test(`${router}: 0 % errors passes with 100, 20 % errors fails with 80`, { timeout: 60_000 }, async () => {
      const healthy = await analyseWithData(canary('stable', router, [successRate()]));
      const good = healthy.checks[0];
      assert.equal(healthy.outcome, 'pass', healthy.message);
      assert.equal(good?.result, 'Pass');
      assert.equal(good?.value, 100);
      assert.equal(await direct(good), 100);

      const broken = await analyseWithData(canary('faulty', router, [successRate()]));
      const bad = broken.checks[0];
      assert.equal(broken.outcome, 'fail', broken.message);
      assert.equal(bad?.result, 'Fail');
      assert.equal(bad?.reason, 'OutOfRange');
      assert.ok(bad?.value !== undefined && Math.abs(bad.value - 80) < 2, `success rate ${bad?.value}, want about 80`);
      // The reported value is Prometheus's, not a re-computation (the generator is deterministic).
      assert.ok(Math.abs((await direct(bad)) - (bad.value ?? NaN)) < 2);
      assert.match(bad.message, /^request-success-rate is 8\d(\.\d+)?, below the minimum 99$/);
    });

    test(`${router}: p99 latency of 10 ms passes, of ~900 ms fails`, { timeout: 60_000 }, async () => {
      const fast = await analyseWithData(canary('stable', router, [duration()]));
      const quick = fast.checks[0];
      assert.equal(fast.outcome, 'pass', fast.message);
      // 10 ms lands in a bucket with an upper bound of 10 ms (nginx/app: 0.01 s).
      assert.ok(quick?.value !== undefined && quick.value > 0 && quick.value <= 10, `p99 ${quick?.value} ms`);

      const slow = await analyseWithData(canary('slow', router, [duration()]));
      const sluggish = slow.checks[0];
      assert.equal(slow.outcome, 'fail', slow.message);
      assert.equal(sluggish?.reason, 'OutOfRange');
      // A p99 of 900 ms sits just under the 1000 ms bucket boundary of every router; depending on
      // which requests fall in the rate window, histogram_quantile lands a little either side of it.
      assert.ok(sluggish?.value !== undefined && sluggish.value > 500 && sluggish.value <= 1100, `p99 ${sluggish?.value} ms`);
      assert.match(sluggish.message, /above the maximum 500$/);
    });
  }

  test('a query returning several series is an error naming them, not a silently picked value', async () => {
    const subject = canary('stable', 'istio', [{
      name: 'per-reporter', interval: WINDOW, thresholdRange: { min: 0 },
      query: 'sum by (reporter) (rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}"}[{{ interval }}]))',
    }]);
    const result = await analyseWithData(subject);
    const check = result.checks[0];
    assert.equal(result.outcome, 'fail');
    assert.deepEqual([check?.result, check?.reason], ['Error', 'MetricResultInvalid']);
    assert.match(check?.message ?? '', /returned 2 series \(\{reporter="(destination|source)"\}, \{reporter="(destination|source)"\}\)/);
  });

  test('no traffic: an empty result and NaN are no data, handled per onNoData', { timeout: 60_000 }, async () => {
    // "idle" never had a request: no series at all.
    const fail = await runAnalysis(canary('idle', 'istio', [successRate()]), context);
    assert.deepEqual([fail.outcome, fail.checks[0]?.result, fail.checks[0]?.reason], ['fail', 'NoData', 'MetricNoData']);
    assert.match(fail.checks[0]?.answer ?? '', /empty result/);
    const pass = await runAnalysis(canary('idle', 'istio', [successRate({ onNoData: 'pass' })]), context);
    assert.deepEqual([pass.outcome, pass.checks[0]?.result], ['pass', 'NoData']);

    const held = canary('idle', 'linkerd', [successRate({ onNoData: 'hold', maxHoldChecks: 2 })]);
    const rounds: string[] = [];
    let previous: AnalysisResult | undefined;
    for (let i = 0; i < 3; i++) {
      previous = await runAnalysis(held, { ...context, previous });
      rounds.push(`${previous.outcome}/${previous.checks[0]?.result}`);
    }
    assert.deepEqual(rounds, ['hold/Hold', 'hold/Hold', 'fail/NoData']);
    assert.match(previous?.checks[0]?.message ?? '', /3 checks in a row without data, more than maxHoldChecks 2/);

    // "drained" had traffic that stopped: flat counters, 0/0 = NaN once the window has passed.
    const drained = canary('drained', 'istio', [successRate()]);
    assert.equal((await analyseWithData(drained)).outcome, 'pass');
    await generator.setTarget(target('drained', { rps: 0 }));
    const deadline = Date.now() + SETTLE_MS;
    let nan: AnalysisResult | undefined;
    while (Date.now() < deadline) {
      nan = await runAnalysis(drained, context);
      if (nan.checks[0]?.result === 'NoData') break;
      await sleep(500);
    }
    assert.equal(nan?.checks[0]?.result, 'NoData', nan?.message);
    assert.match(nan?.checks[0]?.answer ?? '', /^NaN/);
    assert.equal(nan?.checks[0]?.value, undefined);
  });

  test('tick loop: the error rate rising mid-way reaches the threshold within threshold × interval + one scrape', { timeout: 90_000 }, async (t) => {
    const subject = canary('flaky', 'nginx', [successRate(), duration()]);
    const intervalMs = 2_000;
    const threshold = subject.spec.analysis.threshold ?? 5;
    assert.equal((await analyseWithData(subject)).outcome, 'pass');

    // What the canary controller will do: one runAnalysis per interval, failedChecks + 1 per failing round.
    let failedChecks = 0;
    let healthyRounds = 0;
    let changedAt = 0;
    let thresholdAt = 0;
    const reasons: string[] = [];
    const start = Date.now();
    for (let tick = 0; Date.now() - start < 60_000; tick++) {
      await sleep(Math.max(0, start + tick * intervalMs - Date.now()));
      if (tick === 3) {
        await generator.setTarget(target('flaky', { errorRate: 0.2 }));
        changedAt = Date.now();
      }
      const result = await runAnalysis(subject, context);
      if (changedAt === 0) {
        assert.equal(result.outcome, 'pass', `before the change: ${result.message}`);
        healthyRounds++;
        continue;
      }
      if (result.outcome === 'fail') {
        failedChecks++;
        reasons.push(result.checks.filter((c) => c.outcome === 'fail').map((c) => c.reason).join(','));
      }
      if (failedChecks >= threshold) {
        thresholdAt = Date.now();
        break;
      }
    }
    assert.equal(healthyRounds, 3);
    assert.ok(thresholdAt > 0, `failed checks never reached ${threshold}`);
    const elapsed = thresholdAt - changedAt;
    // Slack beyond one scrape: 5 % of the 5 s window must hold errors before
    // 80 % drops the ratio below 99 (0.25 s), the generator's 0.25 s tick, and query time.
    const bound = threshold * intervalMs + SCRAPE_MS + 1_000;
    t.diagnostic(`threshold ${threshold} reached ${elapsed} ms after the error rate rose (bound ${bound} ms)`);
    assert.ok(elapsed <= bound, `took ${elapsed} ms, bound ${bound} ms`);
    assert.deepEqual(reasons, Array(threshold).fill('OutOfRange'));
    await generator.setTarget(target('flaky'));
  });

  test('tick loop: Prometheus stopping mid-way fails checks with PrometheusUnavailable up to the threshold', { timeout: 120_000 }, async (t) => {
    const subject = canary('stable', 'istio', [successRate()]);
    const intervalMs = 2_000;
    const threshold = subject.spec.analysis.threshold ?? 5;
    assert.equal((await analyseWithData(subject)).outcome, 'pass');
    let failedChecks = 0;
    let stoppedAt = 0;
    let thresholdAt = 0;
    let last: AnalysisResult | undefined;
    const start = Date.now();
    try {
      for (let tick = 0; Date.now() - start < 60_000; tick++) {
        await sleep(Math.max(0, start + tick * intervalMs - Date.now()));
        if (tick === 2) {
          await prometheus.pause();
          stoppedAt = Date.now();
        }
        last = await runAnalysis(subject, context);
        if (stoppedAt === 0) {
          assert.equal(last.outcome, 'pass', last.message);
          continue;
        }
        assert.equal(last.outcome, 'fail');
        assert.deepEqual([last.checks[0]?.result, last.checks[0]?.reason], ['Error', 'PrometheusUnavailable']);
        failedChecks++;
        if (failedChecks >= threshold) {
          thresholdAt = Date.now();
          break;
        }
      }
      const elapsed = thresholdAt - stoppedAt;
      t.diagnostic(`threshold ${threshold} reached ${elapsed} ms after Prometheus stopped`);
      assert.ok(thresholdAt > 0 && elapsed <= threshold * intervalMs + SCRAPE_MS, `took ${elapsed} ms`);
      assert.match(last?.checks[0]?.message ?? '', /cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
      assert.match(last?.checks[0]?.query ?? '', /istio_requests_total/);

      const down = await checkMetricProviders(subject, context);
      assert.deepEqual([down.condition.status, down.condition.reason], ['False', 'PrometheusUnavailable']);
    } finally {
      await prometheus.resume();
    }
    // Back again: the same check passes once Prometheus answers.
    assert.equal((await analyseWithData(subject)).outcome, 'pass');
  });

  test('controller metrics counted what happened', () => {
    const checks = metrics.snapshot().find((f) => f.name === 'sluice_canary_metric_checks_total');
    const count = (result: string, reason: string): number => (checks?.samples ?? [])
      .filter((s) => s.labels.result === result && s.labels.reason === reason)
      .reduce((sum, s) => sum + s.value, 0);
    assert.ok(count('Pass', 'WithinRange') > 0);
    assert.ok(count('Fail', 'OutOfRange') > 0);
    assert.ok(count('Error', 'PrometheusUnavailable') >= 3);
    assert.ok(count('NoData', 'MetricNoData') > 0);
    assert.ok(count('Hold', 'MetricNoData') >= 2);
  });
});
