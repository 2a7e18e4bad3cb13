// runAnalysis and checkMetricProviders with an in-memory provider: the
// outcome rules (threshold, no data per onNoData, the hold bound, errors) and
// what lands in status, events and controller metrics.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Canary, CanaryMetric, MetricTemplate } from '../../api/types.ts';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { analysisEvents, checkMetricProviders, runAnalysis, toMetricStatuses, type AnalysisContext, type AnalysisResult } from './analysis.ts';
import { AnalysisMetrics } from './metrics.ts';
import type { MetricProvider, ProviderConfig, QueryAnswer } from './providers/provider.ts';
import type { ObjectSource, Secret } from './resolve.ts';

type Answer = QueryAnswer | SluiceError;

/** Answers by query text match; records every query and provider config it saw. */
class FakePrometheus {
  readonly queries: string[] = [];
  readonly configs: ProviderConfig[] = [];
  readonly answers: { match: RegExp; answer: Answer }[] = [];
  down: SluiceError | undefined;

  answer(match: RegExp, answer: Answer): void {
    this.answers.unshift({ match, answer });
  }

  factory = (config: ProviderConfig): MetricProvider => {
    this.configs.push(config);
    return {
      type: 'prometheus',
      address: config.address,
      query: (query) => {
        this.queries.push(query);
        if (this.down) return Promise.reject(this.down);
        const found = this.answers.find((a) => a.match.test(query));
        if (!found) return Promise.reject(new Error(`fake has no answer for ${query}`));
        return found.answer instanceof SluiceError ? Promise.reject(found.answer) : Promise.resolve(found.answer);
      },
      checkAvailability: () => (this.down ? Promise.reject(this.down) : Promise.resolve()),
    };
  };
}

const one = (value: number): QueryAnswer => ({ resultType: 'vector', series: [{ labels: {}, value }] });
const empty: QueryAnswer = { resultType: 'vector', series: [] };
const unavailable = new SluiceError(ErrorCodes.PrometheusUnavailable, 'cannot reach Prometheus at http://prom:9090: ECONNREFUSED connect ECONNREFUSED', { retryable: true });

function canaryWith(metrics: CanaryMetric[]): Canary {
  return {
    apiVersion: 'sluice.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name: 'podinfo', namespace: 'shop', uid: 'uid-1', generation: 4 },
    spec: {
      provider: 'istio',
      targetRef: { kind: 'Deployment', name: 'podinfo' },
      service: { port: 9898 },
      analysis: { interval: '1m', threshold: 3, stepWeight: 10, metrics },
    },
  };
}

const noObjects: ObjectSource<never> = { get: () => undefined };
const fixedNow = () => new Date('2026-01-02T03:04:05.678Z');

function contextFor(fake: FakePrometheus, extra: Partial<AnalysisContext> = {}): AnalysisContext {
  return {
    templates: noObjects, secrets: noObjects, config: { metricsServer: 'http://prom:9090' },
    createProvider: fake.factory, metrics: new AnalysisMetrics(), now: fixedNow, ...extra,
  };
}

const successRate: CanaryMetric = { name: 'request-success-rate', interval: '1m', thresholdRange: { min: 99 } };
const duration: CanaryMetric = { name: 'request-duration', interval: '1m', thresholdRange: { max: 500 } };

describe('runAnalysis', () => {
  it('passes within range and fails outside it, with the value and the rendered query', async () => {
    const fake = new FakePrometheus();
    fake.answer(/istio_requests_total/, one(99.5));
    fake.answer(/istio_request_duration/, one(612.25));
    const result = await runAnalysis(canaryWith([successRate, duration]), contextFor(fake));
    assert.equal(result.outcome, 'fail');
    const [rate, latency] = result.checks;
    assert.equal(rate?.result, 'Pass');
    assert.equal(rate?.reason, 'WithinRange');
    assert.equal(rate?.value, 99.5);
    assert.equal(rate?.message, 'request-success-rate is 99.5, within >= 99');
    assert.match(rate?.query ?? '', /^sum\(rate\(istio_requests_total\{.*destination_workload=~"podinfo".*\}\[60s\]\)\)/);
    assert.equal(latency?.result, 'Fail');
    assert.equal(latency?.outcome, 'fail');
    assert.equal(latency?.reason, 'OutOfRange');
    assert.equal(latency?.value, 612.25);
    assert.equal(latency?.message, 'request-duration is 612.25, above the maximum 500');
    assert.equal(result.time, '2026-01-02T03:04:05Z');
    assert.equal(result.message, '1 of 2 metric checks failed: request-duration (OutOfRange)');
    assert.equal(fake.configs[0]?.address, 'http://prom:9090');
  });

  it('fails below the minimum', async () => {
    const fake = new FakePrometheus();
    fake.answer(/istio_requests_total/, one(80));
    const [check] = (await runAnalysis(canaryWith([successRate]), contextFor(fake))).checks;
    assert.equal(check?.result, 'Fail');
    assert.equal(check?.message, 'request-success-rate is 80, below the minimum 99');
  });

  it('all passing is pass; no metrics is pass', async () => {
    const fake = new FakePrometheus();
    fake.answer(/istio_requests_total/, one(100));
    fake.answer(/istio_request_duration/, one(12));
    const result = await runAnalysis(canaryWith([successRate, duration]), contextFor(fake));
    assert.equal(result.outcome, 'pass');
    assert.equal(result.message, '2 of 2 metric checks passed');
    const none = await runAnalysis(canaryWith([]), contextFor(fake));
    assert.deepEqual([none.outcome, none.checks.length], ['pass', 0]);
  });

  it('Prometheus unreachable is an Error that fails the check, with reason PrometheusUnavailable', async () => {
    const fake = new FakePrometheus();
    fake.down = unavailable;
    const [check] = (await runAnalysis(canaryWith([successRate]), contextFor(fake))).checks;
    assert.equal(check?.result, 'Error');
    assert.equal(check?.outcome, 'fail');
    assert.equal(check?.reason, 'PrometheusUnavailable');
    assert.equal(check?.error?.code, ErrorCodes.PrometheusUnavailable);
    assert.match(check?.message ?? '', /ECONNREFUSED/);
    assert.match(check?.query ?? '', /istio_requests_total/);
    assert.equal(check?.value, undefined);
  });

  it('a query error keeps Prometheus\'s message', async () => {
    const fake = new FakePrometheus();
    fake.answer(/istio_requests_total/, new SluiceError(ErrorCodes.PrometheusQueryError, 'Prometheus at http://prom:9090 answered HTTP 400 (bad_data): parse error at char 5'));
    const [check] = (await runAnalysis(canaryWith([successRate]), contextFor(fake))).checks;
    assert.deepEqual([check?.result, check?.reason], ['Error', 'PrometheusQueryError']);
    assert.match(check?.message ?? '', /parse error at char 5/);
  });

  it('several series or a range vector is an Error, not a silently picked value', async () => {
    const fake = new FakePrometheus();
    fake.answer(/istio_requests_total/, { resultType: 'vector', series: [{ labels: { pod: 'a' }, value: 100 }, { labels: { pod: 'b' }, value: 50 }] });
    fake.answer(/istio_request_duration/, { resultType: 'matrix', series: [{ labels: { pod: 'a' }, samples: 12 }] });
    const [rate, latency] = (await runAnalysis(canaryWith([successRate, duration]), contextFor(fake))).checks;
    assert.deepEqual([rate?.result, rate?.reason, rate?.value], ['Error', 'MetricResultInvalid', undefined]);
    assert.match(rate?.message ?? '', /returned 2 series \(\{pod="a"\}, \{pod="b"\}\)/);
    assert.deepEqual([latency?.result, latency?.reason], ['Error', 'MetricResultInvalid']);
    assert.match(latency?.message ?? '', /range vector/);
  });

  it('a configuration error is an Error naming it, without a query', async () => {
    const fake = new FakePrometheus();
    const [check] = (await runAnalysis(canaryWith([{ name: 'errors', templateRef: { name: 'missing' } }]), contextFor(fake))).checks;
    assert.deepEqual([check?.result, check?.outcome, check?.reason, check?.query], ['Error', 'fail', 'SpecInvalid', undefined]);
    assert.match(check?.message ?? '', /MetricTemplate shop\/missing not found/);
    assert.equal(fake.queries.length, 0);
  });

  describe('no data', () => {
    for (const answer of [empty, one(NaN)]) {
      const kind = answer === empty ? 'an empty result' : 'NaN';
      it(`${kind} with onNoData fail (the default) fails as NoData`, async () => {
        const fake = new FakePrometheus();
        fake.answer(/istio_requests_total/, answer);
        const result = await runAnalysis(canaryWith([successRate]), contextFor(fake));
        const [check] = result.checks;
        assert.deepEqual([result.outcome, check?.result, check?.outcome, check?.reason], ['fail', 'NoData', 'fail', 'MetricNoData']);
        assert.match(check?.message ?? '', /no data for request-success-rate: .*; fails because onNoData is fail/);
      });
    }

    it('onNoData pass passes, still reported as NoData', async () => {
      const fake = new FakePrometheus();
      fake.answer(/istio_requests_total/, empty);
      const result = await runAnalysis(canaryWith([{ ...successRate, onNoData: 'pass' }]), contextFor(fake));
      assert.deepEqual([result.outcome, result.checks[0]?.result, result.checks[0]?.reason], ['pass', 'NoData', 'MetricNoData']);
    });

    it('onNoData hold holds for maxHoldChecks rounds, then fails; data resets the count', async () => {
      const fake = new FakePrometheus();
      fake.answer(/istio_requests_total/, one(NaN));
      const canary = canaryWith([{ ...successRate, onNoData: 'hold', maxHoldChecks: 2 }]);
      const outcomes: string[] = [];
      let previous: AnalysisResult | undefined;
      const round = async (): Promise<void> => {
        previous = await runAnalysis(canary, contextFor(fake, { previous }));
        outcomes.push(`${previous.outcome}/${previous.checks[0]?.result}/${previous.checks[0]?.noDataChecks}`);
      };
      await round();
      await round();
      await round();
      await round();
      assert.deepEqual(outcomes, ['hold/Hold/1', 'hold/Hold/2', 'fail/NoData/3', 'fail/NoData/4']);
      assert.match(previous?.checks[0]?.message ?? '', /4 checks in a row without data, more than maxHoldChecks 2, so it fails/);

      // Prometheus down in between neither resets nor advances the count.
      fake.down = unavailable;
      await round();
      fake.down = undefined;
      fake.answer(/istio_requests_total/, one(100));
      await round();
      fake.answer(/istio_requests_total/, empty);
      await round();
      assert.deepEqual(outcomes.slice(4), ['fail/Error/4', 'pass/Pass/0', 'hold/Hold/1']);
    });

    it('hold without maxHoldChecks is bounded by the default', async () => {
      const fake = new FakePrometheus();
      fake.answer(/istio_requests_total/, empty);
      const canary = canaryWith([{ ...successRate, onNoData: 'hold' }]);
      let previous: AnalysisResult | undefined;
      let rounds = 0;
      do {
        previous = await runAnalysis(canary, contextFor(fake, { previous }));
        rounds++;
      } while (previous.outcome === 'hold' && rounds < 100);
      assert.equal(previous.outcome, 'fail');
      assert.equal(rounds, 11);
    });

    it('a failing metric outweighs a holding one', async () => {
      const fake = new FakePrometheus();
      fake.answer(/istio_requests_total/, empty);
      fake.answer(/istio_request_duration/, one(900));
      const result = await runAnalysis(canaryWith([{ ...successRate, onNoData: 'hold' }, duration]), contextFor(fake));
      assert.equal(result.outcome, 'fail');
      assert.equal(result.message, '1 of 2 metric checks failed: request-duration (OutOfRange); 1 of 2 holding for data: request-success-rate (MetricNoData)');
    });
  });

  it('a metric without thresholdRange records its value and passes', async () => {
    const fake = new FakePrometheus();
    fake.answer(/x_total/, one(7));
    const [check] = (await runAnalysis(canaryWith([{ name: 'info', query: 'sum(x_total{ns="{{ namespace }}"})' }]), contextFor(fake))).checks;
    assert.deepEqual([check?.result, check?.reason, check?.value], ['Pass', 'NoThresholdRange', 7]);
    assert.deepEqual(fake.queries, ['sum(x_total{ns="shop"})']);
  });

  it('uses MetricTemplates from the source it is given', async () => {
    const fake = new FakePrometheus();
    fake.answer(/errors_total/, one(0.5));
    const template: MetricTemplate = {
      apiVersion: 'sluice.dev/v1alpha1', kind: 'MetricTemplate', metadata: { namespace: 'shop', name: 'errors' },
      spec: { provider: { address: 'http://tenant-prom:9090', secretRef: { name: 'auth' } }, query: 'sum(rate(errors_total{ns="{{ namespace }}"}[{{ interval }}]))' },
    };
    const secret: Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'shop', name: 'auth' }, data: { token: Buffer.from('t0k').toString('base64') } };
    const result = await runAnalysis(
      canaryWith([{ name: 'errors', interval: '30s', templateRef: { name: 'errors' }, thresholdRange: { max: 1 } }]),
      contextFor(fake, { templates: { get: () => template }, secrets: { get: () => secret } }),
    );
    assert.equal(result.outcome, 'pass');
    assert.deepEqual(fake.queries, ['sum(rate(errors_total{ns="shop"}[30s]))']);
    assert.equal(fake.configs[0]?.address, 'http://tenant-prom:9090');
    assert.deepEqual(fake.configs[0]?.credentials, { type: 'bearer', token: 't0k' });
    assert.equal(result.checks[0]?.source, 'MetricTemplate shop/errors');
  });
});

describe('status, events and controller metrics', () => {
  it('status entries carry value, range, result, time, and a message with the reason and the query', async () => {
    const fake = new FakePrometheus();
    fake.answer(/istio_requests_total/, one(80));
    fake.answer(/istio_request_duration/, one(Infinity));
    const result = await runAnalysis(canaryWith([successRate, duration]), contextFor(fake));
    const [rate, latency] = toMetricStatuses(result);
    assert.deepEqual({ ...rate, message: undefined }, { name: 'request-success-rate', value: 80, min: 99, result: 'Fail', message: undefined, time: '2026-01-02T03:04:05Z' });
    assert.match(rate?.message ?? '', /^OutOfRange: request-success-rate is 80, below the minimum 99; query: sum\(rate\(istio_requests_total/);
    // JSON cannot carry Infinity: no value field, the message says +Inf.
    assert.equal(latency?.value, undefined);
    assert.match(latency?.message ?? '', /request-duration is \+Inf, above the maximum 500/);
    assert.deepEqual(JSON.parse(JSON.stringify(toMetricStatuses(result))), toMetricStatuses(result), 'status must survive JSON unchanged');
  });

  it('events: Warning for failing checks with query and answer, Normal for holds, none for passes', async () => {
    const fake = new FakePrometheus();
    fake.answer(/istio_requests_total/, empty);
    fake.answer(/istio_request_duration/, one(10));
    fake.answer(/x_total/, new SluiceError(ErrorCodes.PrometheusUnavailable, 'no answer from Prometheus at http://prom:9090 within 10000 ms'));
    const canary = canaryWith([{ ...successRate, onNoData: 'hold' }, duration, { name: 'custom', query: 'sum(x_total)' }]);
    const events = analysisEvents(canary, await runAnalysis(canary, contextFor(fake)));
    assert.deepEqual(events.map((e) => [e.type, e.reason]), [['Normal', 'MetricNoData'], ['Warning', 'PrometheusUnavailable']]);
    assert.match(events[1]?.note ?? '', /^metric custom: no answer from Prometheus at http:\/\/prom:9090 within 10000 ms; query: sum\(x_total\)$/);
    assert.deepEqual(events[0]?.regarding, { apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', namespace: 'shop', name: 'podinfo', uid: 'uid-1' });
  });

  it('counts checks by result and reason, keeps the last value, and counts queries', async () => {
    const fake = new FakePrometheus();
    const metrics = new AnalysisMetrics();
    fake.answer(/istio_requests_total/, one(99.9));
    await runAnalysis(canaryWith([successRate]), contextFor(fake, { metrics }));
    fake.down = unavailable;
    await runAnalysis(canaryWith([successRate]), contextFor(fake, { metrics }));
    const families = Object.fromEntries(metrics.snapshot().map((f) => [f.name, f]));
    const checks = families.sluice_canary_metric_checks_total?.samples.map((s) => `${s.labels.result}/${s.labels.reason}=${s.value}`);
    assert.deepEqual(checks, ['Pass/WithinRange=1', 'Error/PrometheusUnavailable=1']);
    assert.ok(Number.isNaN(families.sluice_canary_metric_value?.samples[0]?.value), 'the value gauge must not keep a stale value');
    const queries = families.sluice_metric_queries_total?.samples.map((s) => `${s.labels.code}=${s.value}`);
    assert.deepEqual(queries, ['ok=1', 'PROMETHEUS_UNAVAILABLE=1']);
    metrics.forget({ namespace: 'shop', name: 'podinfo' });
    assert.equal(metrics.snapshot().find((f) => f.name === 'sluice_canary_metric_checks_total')?.samples.length, 0);
  });
});

describe('checkMetricProviders', () => {
  it('is True when every provider answers, one check per distinct provider', async () => {
    const fake = new FakePrometheus();
    const metrics = new AnalysisMetrics();
    const availability = await checkMetricProviders(canaryWith([successRate, duration]), contextFor(fake, { metrics }));
    assert.equal(availability.available, true);
    assert.deepEqual(availability.condition, {
      type: 'MetricsAvailable', status: 'True', reason: 'Available', observedGeneration: 4,
      message: 'prometheus at http://prom:9090 answers (request-success-rate, request-duration)',
    });
    assert.equal(fake.configs.length, 1);
    assert.equal(metrics.snapshot().find((f) => f.name === 'sluice_canary_metric_provider_available')?.samples[0]?.value, 1);
  });

  it('is False with reason PrometheusUnavailable when Prometheus does not answer', async () => {
    const fake = new FakePrometheus();
    fake.down = unavailable;
    const availability = await checkMetricProviders(canaryWith([successRate]), contextFor(fake));
    assert.equal(availability.condition.status, 'False');
    assert.equal(availability.condition.reason, 'PrometheusUnavailable');
    assert.match(availability.condition.message, /metrics request-success-rate: cannot reach Prometheus/);
  });

  it('is False with reason SpecInvalid naming an unknown template variable', async () => {
    const fake = new FakePrometheus();
    const template: MetricTemplate = {
      apiVersion: 'sluice.dev/v1alpha1', kind: 'MetricTemplate', metadata: { namespace: 'shop', name: 'bad' },
      spec: { provider: {}, query: 'sum(x{app="{{ app }}"})' },
    };
    const availability = await checkMetricProviders(
      canaryWith([successRate, { name: 'bad', templateRef: { name: 'bad' } }]),
      contextFor(fake, { templates: { get: () => template } }),
    );
    assert.equal(availability.available, false);
    assert.equal(availability.condition.reason, 'SpecInvalid');
    assert.match(availability.condition.message, /metric bad: MetricTemplate shop\/bad .*unknown variable \{\{ app \}\}/);
    assert.equal(availability.providers[0]?.available, true);
  });
});
