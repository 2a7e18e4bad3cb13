// The metrics half of the test environment: the traffic generator exposes the
// series of ingress-nginx, Istio, Linkerd and an instrumented app, a real
// Prometheus scrapes it, and the success-rate / latency PromQL that canary
// analysis runs (Flagger's built-in queries) gives back what was configured.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PrometheusDriver, type InstantVector, type QueryResult, type SampleValue } from 'prometheus-query';
import { startPrometheus, type PrometheusInstance } from './env/prometheus.ts';
import {
  startTrafficGenerator,
  trafficGeneratorClient,
  type TrafficControl,
  type TrafficGenerator,
  type TrafficTarget,
} from './env/traffic-generator.ts';

const NS = 'shop';
const WINDOW = '5s';
const SETTLE_MS = 30_000;

// The canary: 20 % errors, log-normal latency with p50 40 ms and p99 180 ms.
const canary: TrafficTarget = {
  namespace: NS,
  name: 'podinfo',
  ingress: 'podinfo',
  service: 'podinfo-canary',
  canary: true,
  rps: 100,
  errorRate: 0.2,
  latencyMs: { p50: 40, p99: 180 },
};
// The primary: no errors, a fixed 10 ms.
const primary: TrafficTarget = {
  namespace: NS,
  name: 'podinfo-primary',
  ingress: 'podinfo',
  service: 'podinfo-primary',
  rps: 100,
  errorRate: 0,
  latencyMs: 10,
};
// Mean of that log-normal distribution: p50 * exp(sigma^2 / 2), sigma = ln(p99/p50) / z(0.99).
const CANARY_MEAN_MS = 40 * Math.exp((Math.log(180 / 40) / 2.3263478740408408) ** 2 / 2);

// Flagger's built-in queries, per router, for one workload.
const successRate = {
  nginx: (ingress: string, canarySelector: string): string =>
    `sum(rate(nginx_ingress_controller_requests{namespace="${NS}",ingress="${ingress}",canary${canarySelector},status!~"5.*"}[${WINDOW}]))` +
    ` / sum(rate(nginx_ingress_controller_requests{namespace="${NS}",ingress="${ingress}",canary${canarySelector}}[${WINDOW}])) * 100`,
  istio: (workload: string): string =>
    `sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="${NS}",destination_workload=~"${workload}",response_code!~"5.*"}[${WINDOW}]))` +
    ` / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="${NS}",destination_workload=~"${workload}"}[${WINDOW}])) * 100`,
  linkerd: (workload: string): string =>
    `sum(rate(response_total{namespace="${NS}",deployment=~"${workload}",classification!="failure",direction="inbound"}[${WINDOW}]))` +
    ` / sum(rate(response_total{namespace="${NS}",deployment=~"${workload}",direction="inbound"}[${WINDOW}])) * 100`,
  app: (workload: string): string =>
    `sum(rate(http_request_duration_seconds_count{kubernetes_namespace="${NS}",kubernetes_pod_name=~"${workload}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",status!~"5.*"}[${WINDOW}]))` +
    ` / sum(rate(http_request_duration_seconds_count{kubernetes_namespace="${NS}",kubernetes_pod_name=~"${workload}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[${WINDOW}])) * 100`,
};

const p99 = {
  nginxSeconds: (ingress: string): string =>
    `histogram_quantile(0.99, sum(rate(nginx_ingress_controller_response_duration_seconds_bucket{namespace="${NS}",ingress="${ingress}",canary!=""}[${WINDOW}])) by (le))`,
  istioMs: (workload: string): string =>
    `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="${NS}",destination_workload=~"${workload}"}[${WINDOW}])) by (le))`,
  linkerdMs: (workload: string): string =>
    `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="${NS}",deployment=~"${workload}",direction="inbound"}[${WINDOW}])) by (le))`,
  appSeconds: (workload: string): string =>
    `histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{kubernetes_namespace="${NS}",kubernetes_pod_name=~"${workload}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[${WINDOW}])) by (le))`,
};

/** The single value of an instant query; null for an empty vector ("no data"). */
function valueOf(result: QueryResult): number | null {
  const vectors = result.result as InstantVector[];
  if (vectors.length === 0) return null;
  assert.equal(vectors.length, 1, `expected one series, got ${vectors.length}`);
  return (vectors[0]?.value as SampleValue).value;
}

/** prometheus-query rejects with plain objects; make them readable errors. */
async function query(driver: PrometheusDriver, promql: string): Promise<number | null> {
  try {
    return valueOf(await driver.instantQuery(promql));
  } catch (err) {
    if (err instanceof Error) throw err;
    throw new Error(`query failed: ${JSON.stringify(err)}\n${promql}`);
  }
}

/** Polls until `accept` holds (bounded); returns the accepted value. */
async function settle(
  driver: PrometheusDriver,
  promql: string,
  accept: (value: number | null) => boolean,
  what: string,
): Promise<number | null> {
  const deadline = Date.now() + SETTLE_MS;
  let last: number | null | undefined;
  while (Date.now() < deadline) {
    last = await query(driver, promql);
    if (accept(last)) return last;
    await sleep(500);
  }
  assert.fail(`${what}: not reached within ${SETTLE_MS} ms, last value ${String(last)}\n${promql}`);
}

const near = (want: number, tolerance: number) => (v: number | null): boolean =>
  v !== null && Math.abs(v - want) <= tolerance;
const within = (low: number, high: number) => (v: number | null): boolean => v !== null && v > low && v <= high;

describe('Prometheus scraping the traffic generator', () => {
  let generator: TrafficGenerator;
  let control: TrafficControl;
  let prometheus: PrometheusInstance;
  let protectedPrometheus: PrometheusInstance;
  let driver: PrometheusDriver;
  const auth = { username: 'analysis', password: 'not-the-default' };

  before(async () => {
    generator = await startTrafficGenerator();
    // Steered over HTTP as a test in another process would.
    control = trafficGeneratorClient(generator.url);
    await control.setTarget(canary);
    await control.setTarget(primary);
    // Both at once (each waits ~5 s for its first scrape); allSettled so that
    // one failing does not leave the other unstopped.
    const [plain, withAuth] = await Promise.allSettled([
      startPrometheus({ scrapeTargets: [generator.address] }),
      startPrometheus({ scrapeTargets: [generator.address], basicAuth: auth }),
    ]);
    if (plain.status === 'fulfilled') prometheus = plain.value;
    if (withAuth.status === 'fulfilled') protectedPrometheus = withAuth.value;
    if (plain.status === 'rejected') throw plain.reason;
    if (withAuth.status === 'rejected') throw withAuth.reason;
    driver = new PrometheusDriver({ endpoint: prometheus.url, timeout: 5_000 });
  });

  after(async () => {
    await Promise.all([prometheus?.stop(), protectedPrometheus?.stop()]);
    await generator?.stop();
  });

  test('starts and scrapes', async (t) => {
    t.diagnostic(`prometheus ready after ${prometheus.readyMs} ms, first scrape after ${prometheus.startupMs} ms`);
    t.diagnostic(`with basic auth: ready after ${protectedPrometheus.readyMs} ms, first scrape after ${protectedPrometheus.startupMs} ms`);
    assert.equal(await query(driver, `up{job="traffic-generator",instance="${generator.address}"}`), 1);
  });

  test('success rate of the canary is 80 % and of the primary 100 %, for every router', { timeout: 90_000 }, async () => {
    await settle(driver, successRate.nginx('podinfo', '!=""'), near(80, 2), 'nginx canary success rate');
    await settle(driver, successRate.nginx('podinfo', '=""'), near(100, 0.001), 'nginx primary success rate');
    await settle(driver, successRate.istio('podinfo'), near(80, 2), 'istio canary success rate');
    await settle(driver, successRate.istio('podinfo-primary'), near(100, 0.001), 'istio primary success rate');
    await settle(driver, successRate.linkerd('podinfo'), near(80, 2), 'linkerd canary success rate');
    await settle(driver, successRate.app('podinfo'), near(80, 2), 'app canary success rate');
    await settle(driver, successRate.app('podinfo-primary'), near(100, 0.001), 'app primary success rate');
  });

  test('latency quantiles land in the bucket of the configured p99', { timeout: 90_000 }, async () => {
    // histogram_quantile interpolates inside a bucket, so the exact value
    // depends on the bucket layout; the bucket holding 180 ms differs per router.
    await settle(driver, p99.istioMs('podinfo'), within(100, 250), 'istio canary p99 (ms)');
    await settle(driver, p99.linkerdMs('podinfo'), within(100, 200), 'linkerd canary p99 (ms)');
    await settle(driver, p99.nginxSeconds('podinfo'), within(0.1, 0.25), 'nginx canary p99 (s)');
    await settle(driver, p99.appSeconds('podinfo'), within(0.1, 0.25), 'app canary p99 (s)');
    // The primary's fixed 10 ms sits in Istio's (5, 10] bucket.
    await settle(driver, p99.istioMs('podinfo-primary'), within(5, 10), 'istio primary p99 (ms)');
    // _sum / _count gives the mean, which the buckets do not blur.
    const mean =
      `sum(rate(istio_request_duration_milliseconds_sum{reporter="destination",destination_workload_namespace="${NS}",destination_workload="podinfo"}[${WINDOW}]))` +
      ` / sum(rate(istio_request_duration_milliseconds_count{reporter="destination",destination_workload_namespace="${NS}",destination_workload="podinfo"}[${WINDOW}]))`;
    await settle(driver, mean, near(CANARY_MEAN_MS, CANARY_MEAN_MS * 0.1), 'istio canary mean latency (ms)');
  });

  test('the canary recovers when its errors stop', { timeout: 60_000 }, async () => {
    await control.setTarget({ ...canary, errorRate: 0 });
    await settle(driver, successRate.nginx('podinfo', '!=""'), near(100, 0.001), 'nginx canary success rate after recovery');
    await settle(driver, successRate.istio('podinfo'), near(100, 0.001), 'istio canary success rate after recovery');
  });

  test('no traffic means no data', { timeout: 90_000 }, async () => {
    // A workload that never served a request has no series: an empty vector.
    await control.setTarget({ namespace: NS, name: 'idle', ingress: 'idle', rps: 0, errorRate: 0, latencyMs: 10 });
    await sleep(3_000); // three scrapes
    assert.equal(await query(driver, successRate.nginx('idle', '=""')), null);
    assert.equal(await query(driver, successRate.istio('idle')), null);
    const idle = (await control.listTargets()).find((target) => target.name === 'idle');
    assert.equal(idle?.totalRequests, 0);

    // A workload whose traffic stopped keeps flat counters: 0/0 = NaN once
    // the window has passed, which analysis must treat as "no data" too.
    await control.setTarget({ ...canary, rps: 0 });
    const stopped = await settle(driver, successRate.istio('podinfo'), (v) => v !== null && Number.isNaN(v), 'istio canary with no traffic');
    assert.ok(Number.isNaN(stopped));

    // A removed workload's series go stale at once: an empty vector again.
    assert.equal(await control.removeTarget(NS, 'podinfo'), true);
    assert.equal(await control.removeTarget(NS, 'podinfo'), false);
    await settle(driver, successRate.istio('podinfo'), (v) => v === null, 'istio canary after removal');
    // The primary is untouched by all of that.
    assert.equal(await query(driver, successRate.istio('podinfo-primary')), 100);
  });

  test('the control API rejects an invalid target', async () => {
    await assert.rejects(
      control.setTarget({ ...primary, errorRate: 1.5 }),
      /HTTP 400: errorRate must be a number from 0 to 1/,
    );
    await assert.rejects(generator.setTarget({ ...primary, latencyMs: { p50: 50, p99: 10 } }), /p99 must not be below/);
  });

  test('with basic auth, requests without the right credentials get 401', async () => {
    const url = `${protectedPrometheus.url}/api/v1/query?query=up`;
    const anonymous = await fetch(url);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    const wrong = await fetch(url, {
      headers: { authorization: `Basic ${Buffer.from(`${auth.username}:wrong`).toString('base64')}` },
    });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();

    const unauthenticated = new PrometheusDriver({ endpoint: protectedPrometheus.url, timeout: 5_000 });
    await assert.rejects(unauthenticated.instantQuery('up'));

    const authenticated = new PrometheusDriver({ endpoint: protectedPrometheus.url, auth, timeout: 5_000 });
    assert.equal(await query(authenticated, `up{job="traffic-generator",instance="${generator.address}"}`), 1);
    // And it has the data, not just a target.
    await settle(authenticated, successRate.istio('podinfo-primary'), near(100, 0.001), 'primary success rate via basic auth');
  });
});
