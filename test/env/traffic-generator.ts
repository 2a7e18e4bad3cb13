// A traffic simulator that Prometheus scrapes like a real ingress controller,
// mesh proxy and application: one /metrics endpoint with the series that
// ingress-nginx, Istio, Linkerd and an instrumented app (podinfo) expose, for
// every configured workload. Tests steer it — rate, error ratio, latency —
// in-process or over HTTP from another process, and sluice's analysis runs
// its real PromQL against a real Prometheus that scraped it.
//
// Series (names, types, label names and bucket boundaries as the real
// components expose them):
//
//   ingress-nginx (only for targets with `ingress`):
//     nginx_ingress_controller_requests                      counter
//     nginx_ingress_controller_response_duration_seconds     histogram, default buckets
//       labels: namespace, ingress, service, status, method, path, host,
//               controller_class, controller_namespace, controller_pod, canary
//     As in ingress-nginx (monitor.lua: `canary = proxy_alternative_upstream_name`),
//     `ingress` is the ingress the user declared, for primary and canary
//     traffic alike; canary traffic carries canary="<namespace>-<service>-<port>"
//     (the canary upstream), primary traffic has an empty canary label, which
//     Prometheus drops. So `canary!=""` selects the canary's requests.
//   Istio (both reporters, as sidecars on both ends report):
//     istio_requests_total                                    counter
//     istio_request_duration_milliseconds                     histogram, Istio buckets
//       labels: reporter, destination_workload, destination_workload_namespace,
//               destination_service, destination_service_name,
//               destination_service_namespace, source_workload,
//               source_workload_namespace, request_protocol, response_code,
//               response_flags, connection_security_policy
//   Linkerd (inbound side of the workload's proxy):
//     response_total{classification="success"|"failure", status_code}   counter
//     response_latency_ms                                               histogram, Linkerd buckets
//       labels: namespace, deployment, pod, direction="inbound", tls, status_code
//   Application (kubernetes / Gateway API routers), podinfo's instrumentation
//   with the labels of Prometheus's classic `kubernetes-pods` scrape job —
//   the shape Flagger's "kubernetes" metrics provider queries:
//     http_request_duration_seconds                           histogram, default buckets
//       labels: kubernetes_namespace, kubernetes_pod_name, method, path, status
//     kubernetes_pod_name is "<workload>-<10 chars>-<5 chars>" like a
//     Deployment's pod, so `kubernetes_pod_name=~"<workload>-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"`
//     selects one workload (and not "<workload>-primary-...").
//
// Errors are HTTP 500 (status / response_code / status_code "500").
//
// "No data", both ways it happens for real:
//   - a target that never had traffic (rps 0 from the start, or removed) has
//     no series at all: a query returns an empty vector;
//   - a target whose traffic stopped keeps its counters, flat: a ratio of
//     rates evaluates to NaN (0/0) once the rate window has passed.
// Like real exporters, a series appears on its first request (no 5xx series
// before the first error).
//
// The simulation is deterministic: requests and errors accumulate fractionally
// (100 rps with errorRate 0.2 is exactly 20 errors per second), and latencies
// are a low-discrepancy walk through the configured distribution, so measured
// quantiles match the configuration instead of wobbling with a random seed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A log-normal latency distribution given by two quantiles, in ms. */
export interface LatencyQuantiles {
  p50: number;
  p99: number;
}

export interface TrafficTarget {
  namespace: string;
  /** The workload (Deployment) name: "podinfo" for the canary, "podinfo-primary" for the primary. */
  name: string;
  /** Requests per second; 0 = no traffic. */
  rps: number;
  /** Fraction of requests answered with HTTP 500, 0..1. */
  errorRate: number;
  /** Response time in milliseconds: one fixed value, or p50/p99 of a log-normal distribution. */
  latencyMs: number | LatencyQuantiles;
  /** ingress-nginx: the Ingress the user declared (Canary spec.ingressRef). No nginx series without it. */
  ingress?: string;
  /** The Service in front of this workload; default `name`. */
  service?: string;
  /** Port of that Service; part of nginx's upstream name. Default 80. */
  servicePort?: number;
  /** ingress-nginx: the traffic reaches this workload through the canary ingress. */
  canary?: boolean;
}

export interface TargetStatus extends TrafficTarget {
  /** Requests simulated since the target was first created. */
  totalRequests: number;
  totalErrors: number;
}

/** The control surface, the same in-process and over HTTP. */
export interface TrafficControl {
  /** Creates or replaces a target; counters of an existing one continue. */
  setTarget(target: TrafficTarget): Promise<void>;
  /** Removes a target and its series; false if there was none. */
  removeTarget(namespace: string, name: string): Promise<boolean>;
  listTargets(): Promise<TargetStatus[]>;
}

export interface TrafficGenerator extends TrafficControl {
  /** Base URL of the control API, e.g. http://127.0.0.1:41234 */
  url: string;
  metricsUrl: string;
  /** host:port, as a Prometheus scrape target. */
  address: string;
  stop(): Promise<void>;
}

export const NGINX_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const APP_BUCKETS_SECONDS = NGINX_BUCKETS_SECONDS;
export const ISTIO_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];
export const LINKERD_BUCKETS_MS = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000,
  40000, 50000,
];

const TICK_MS = 250;
const ERROR_STATUS = '500';
const OK_STATUS = '200';

type Labels = Record<string, string>;

interface FamilyInfo {
  type: 'counter' | 'histogram';
  help: string;
  buckets?: readonly number[];
}

// Output order of the exposition, and each family's metadata.
const FAMILIES: Record<string, FamilyInfo> = {
  nginx_ingress_controller_requests: { type: 'counter', help: 'The total number of client requests' },
  nginx_ingress_controller_response_duration_seconds: {
    type: 'histogram',
    help: 'The time spent on receiving the response from the upstream server in seconds.',
    buckets: NGINX_BUCKETS_SECONDS,
  },
  istio_requests_total: { type: 'counter', help: 'Total requests.' },
  istio_request_duration_milliseconds: {
    type: 'histogram',
    help: 'Duration of requests in milliseconds.',
    buckets: ISTIO_BUCKETS_MS,
  },
  response_total: { type: 'counter', help: 'Total count of HTTP responses.' },
  response_latency_ms: {
    type: 'histogram',
    help: 'Elapsed times between a request\'s headers being received and its response stream completing',
    buckets: LINKERD_BUCKETS_MS,
  },
  http_request_duration_seconds: {
    type: 'histogram',
    help: 'Seconds spent serving HTTP requests.',
    buckets: APP_BUCKETS_SECONDS,
  },
};

interface CounterSeries {
  family: string;
  labels: Labels;
  value: number;
}

interface HistogramSeries {
  family: string;
  labels: Labels;
  /** Non-cumulative count per bucket; the last slot is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

interface TargetState {
  spec: TrafficTarget;
  /** Fractional requests and errors carried to the next tick. */
  owedRequests: number;
  owedErrors: number;
  /** Position in the latency sequence. */
  sampleIndex: number;
  totalRequests: number;
  totalErrors: number;
  counters: Map<string, CounterSeries>;
  histograms: Map<string, HistogramSeries>;
}

function targetKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

// ---------------------------------------------------------------- validation

const NAME_PATTERN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function positiveNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

/** Checks an untrusted target (e.g. a PUT body); throws an Error that says what is wrong. */
export function parseTarget(input: unknown): TrafficTarget {
  if (!isRecord(input)) throw new Error('target must be a JSON object');
  const { namespace, name, rps, errorRate, latencyMs, ingress, service, servicePort, canary } = input;
  if (typeof namespace !== 'string' || !NAME_PATTERN.test(namespace)) {
    throw new Error('namespace must be a Kubernetes name (lower-case letters, digits, "-")');
  }
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new Error('name must be a Kubernetes name (lower-case letters, digits, "-")');
  }
  if (typeof rps !== 'number' || !Number.isFinite(rps) || rps < 0 || rps > 100_000) {
    throw new Error('rps must be a number from 0 to 100000');
  }
  if (typeof errorRate !== 'number' || !Number.isFinite(errorRate) || errorRate < 0 || errorRate > 1) {
    throw new Error('errorRate must be a number from 0 to 1');
  }
  let latency: number | LatencyQuantiles;
  if (positiveNumber(latencyMs)) {
    latency = latencyMs;
  } else if (isRecord(latencyMs) && positiveNumber(latencyMs.p50) && positiveNumber(latencyMs.p99)) {
    if (latencyMs.p99 < latencyMs.p50) throw new Error('latencyMs.p99 must not be below latencyMs.p50');
    latency = { p50: latencyMs.p50, p99: latencyMs.p99 };
  } else {
    throw new Error('latencyMs must be a positive number or { p50, p99 } with positive numbers');
  }
  const target: TrafficTarget = { namespace, name, rps, errorRate, latencyMs: latency };
  if (ingress !== undefined) {
    if (typeof ingress !== 'string' || !NAME_PATTERN.test(ingress)) throw new Error('ingress must be a Kubernetes name');
    target.ingress = ingress;
  }
  if (service !== undefined) {
    if (typeof service !== 'string' || !NAME_PATTERN.test(service)) throw new Error('service must be a Kubernetes name');
    target.service = service;
  }
  if (servicePort !== undefined) {
    if (typeof servicePort !== 'number' || !Number.isInteger(servicePort) || servicePort < 1 || servicePort > 65535) {
      throw new Error('servicePort must be an integer from 1 to 65535');
    }
    target.servicePort = servicePort;
  }
  if (canary !== undefined) {
    if (typeof canary !== 'boolean') throw new Error('canary must be true or false');
    target.canary = canary;
  }
  return target;
}

// ---------------------------------------------------------------- latency

// Acklam's rational approximation of the standard normal quantile function
// (relative error < 1.2e-9), enough to turn p50/p99 into a distribution.
function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return horner(c, q) / horner([...d, 1], q);
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -horner(c, q) / horner([...d, 1], q);
  }
  const q = p - 0.5;
  const r = q * q;
  return (horner(a, r) * q) / horner([...b, 1], r);
}

function horner(coefficients: readonly number[], x: number): number {
  return coefficients.reduce((acc, coefficient) => acc * x + coefficient, 0);
}

const Z99 = 2.3263478740408408; // normalQuantile(0.99)
const GOLDEN = 0.6180339887498949;

/** The k-th latency sample in ms: a Weyl sequence mapped through the inverse CDF. */
function latencySample(latency: number | LatencyQuantiles, k: number): number {
  if (typeof latency === 'number') return latency;
  if (latency.p99 === latency.p50) return latency.p50;
  const u = Math.min(1 - 1e-9, Math.max(1e-9, (0.5 + k * GOLDEN) % 1));
  const sigma = Math.log(latency.p99 / latency.p50) / Z99;
  return latency.p50 * Math.exp(sigma * normalQuantile(u));
}

// ---------------------------------------------------------------- labels

// Pod-name suffixes use the alphabet Kubernetes uses for generated names.
const POD_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function podName(namespace: string, name: string): string {
  // FNV-1a over the key, so the same workload always gets the same pod.
  let hash = 0x811c9dc5;
  for (const ch of `${namespace}/${name}`) {
    hash ^= ch.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  let suffix = '';
  for (let i = 0; i < 15; i++) {
    suffix += POD_ALPHABET[hash % POD_ALPHABET.length] ?? 'x';
    hash = Math.imul(hash ^ (i + 1), 0x01000193) >>> 0;
  }
  return `${name}-${suffix.slice(0, 10)}-${suffix.slice(10)}`;
}

interface RequestLabels {
  counters: { family: string; labels: Labels }[];
  histograms: { family: string; labels: Labels; unit: 'seconds' | 'ms' }[];
}

function labelsFor(spec: TrafficTarget, isError: boolean): RequestLabels {
  const status = isError ? ERROR_STATUS : OK_STATUS;
  const { namespace, name } = spec;
  const service = spec.service ?? name;
  const pod = podName(namespace, name);
  const counters: RequestLabels['counters'] = [];
  const histograms: RequestLabels['histograms'] = [];

  if (spec.ingress !== undefined) {
    const nginx: Labels = {
      controller_class: 'k8s.io/ingress-nginx',
      controller_namespace: 'ingress-nginx',
      controller_pod: 'ingress-nginx-controller-0',
      host: `${spec.ingress}.${namespace}.example.com`,
      ingress: spec.ingress,
      method: 'GET',
      namespace,
      path: '/',
      service,
      status,
    };
    if (spec.canary === true) nginx.canary = `${namespace}-${service}-${String(spec.servicePort ?? 80)}`;
    counters.push({ family: 'nginx_ingress_controller_requests', labels: nginx });
    histograms.push({ family: 'nginx_ingress_controller_response_duration_seconds', labels: nginx, unit: 'seconds' });
  }

  for (const reporter of ['destination', 'source']) {
    const istio: Labels = {
      connection_security_policy: reporter === 'destination' ? 'mutual_tls' : 'unknown',
      destination_service: `${service}.${namespace}.svc.cluster.local`,
      destination_service_name: service,
      destination_service_namespace: namespace,
      destination_workload: name,
      destination_workload_namespace: namespace,
      reporter,
      request_protocol: 'http',
      response_code: status,
      response_flags: '-',
      source_workload: 'loadtester',
      source_workload_namespace: namespace,
    };
    counters.push({ family: 'istio_requests_total', labels: istio });
    histograms.push({ family: 'istio_request_duration_milliseconds', labels: istio, unit: 'ms' });
  }

  const linkerdBase: Labels = { deployment: name, direction: 'inbound', namespace, pod, status_code: status, tls: 'true' };
  counters.push({
    family: 'response_total',
    labels: { ...linkerdBase, classification: isError ? 'failure' : 'success' },
  });
  histograms.push({ family: 'response_latency_ms', labels: linkerdBase, unit: 'ms' });

  histograms.push({
    family: 'http_request_duration_seconds',
    labels: { kubernetes_namespace: namespace, kubernetes_pod_name: pod, method: 'GET', path: '/', status },
    unit: 'seconds',
  });
  return { counters, histograms };
}

function seriesKey(family: string, labels: Labels): string {
  return `${family}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)))}`;
}

// ---------------------------------------------------------------- exposition

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatLabels(labels: Labels, extra?: [string, string]): string {
  const parts = Object.keys(labels)
    .sort()
    .map((key) => `${key}="${escapeLabelValue(labels[key] ?? '')}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return `{${parts.join(',')}}`;
}

function formatNumber(value: number): string {
  if (value === Infinity) return '+Inf';
  return String(value);
}

// ---------------------------------------------------------------- simulation

class Simulation {
  readonly targets = new Map<string, TargetState>();
  private lastAdvance = performance.now();

  set(spec: TrafficTarget): void {
    this.advance();
    const key = targetKey(spec.namespace, spec.name);
    const existing = this.targets.get(key);
    if (existing) {
      existing.spec = spec;
      return;
    }
    this.targets.set(key, {
      spec,
      owedRequests: 0,
      owedErrors: 0,
      sampleIndex: 0,
      totalRequests: 0,
      totalErrors: 0,
      counters: new Map(),
      histograms: new Map(),
    });
  }

  remove(namespace: string, name: string): boolean {
    this.advance();
    return this.targets.delete(targetKey(namespace, name));
  }

  list(): TargetStatus[] {
    this.advance();
    return [...this.targets.values()].map((t) => ({
      ...t.spec,
      totalRequests: t.totalRequests,
      totalErrors: t.totalErrors,
    }));
  }

  /** Simulates the requests due since the last call, by wall-clock time. */
  advance(): void {
    const now = performance.now();
    const seconds = (now - this.lastAdvance) / 1000;
    this.lastAdvance = now;
    if (seconds <= 0) return;
    for (const state of this.targets.values()) this.simulate(state, seconds);
  }

  private simulate(state: TargetState, seconds: number): void {
    const { spec } = state;
    state.owedRequests += spec.rps * seconds;
    const requests = Math.floor(state.owedRequests);
    state.owedRequests -= requests;
    if (requests === 0) return;
    state.owedErrors += requests * spec.errorRate;
    // The epsilon keeps 0.2 * 5 from becoming 0.9999999 errors.
    const errors = Math.min(requests, Math.floor(state.owedErrors + 1e-9));
    state.owedErrors = Math.max(0, state.owedErrors - errors);
    state.totalRequests += requests;
    state.totalErrors += errors;

    const okLabels = labelsFor(spec, false);
    const errorLabels = errors > 0 ? labelsFor(spec, true) : okLabels;
    // Spread the errors through the batch so they get ordinary latencies too.
    for (let i = 0; i < requests; i++) {
      const isError = Math.floor(((i + 1) * errors) / requests) > Math.floor((i * errors) / requests);
      const ms = latencySample(spec.latencyMs, state.sampleIndex++);
      this.record(state, isError ? errorLabels : okLabels, ms);
    }
  }

  private record(state: TargetState, labels: RequestLabels, ms: number): void {
    for (const { family, labels: l } of labels.counters) {
      const key = seriesKey(family, l);
      let series = state.counters.get(key);
      if (!series) {
        series = { family, labels: l, value: 0 };
        state.counters.set(key, series);
      }
      series.value += 1;
    }
    for (const { family, labels: l, unit } of labels.histograms) {
      const buckets = FAMILIES[family]?.buckets ?? [];
      const key = seriesKey(family, l);
      let series = state.histograms.get(key);
      if (!series) {
        series = { family, labels: l, counts: new Array<number>(buckets.length + 1).fill(0), sum: 0, count: 0 };
        state.histograms.set(key, series);
      }
      const value = unit === 'seconds' ? ms / 1000 : ms;
      let slot = buckets.findIndex((upper) => value <= upper);
      if (slot === -1) slot = buckets.length;
      series.counts[slot] = (series.counts[slot] ?? 0) + 1;
      series.sum += value;
      series.count += 1;
    }
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    this.advance();
    const lines: string[] = [];
    for (const [family, info] of Object.entries(FAMILIES)) {
      const counters: CounterSeries[] = [];
      const histograms: HistogramSeries[] = [];
      for (const state of this.targets.values()) {
        for (const s of state.counters.values()) if (s.family === family) counters.push(s);
        for (const s of state.histograms.values()) if (s.family === family) histograms.push(s);
      }
      if (counters.length === 0 && histograms.length === 0) continue;
      lines.push(`# HELP ${family} ${info.help}`, `# TYPE ${family} ${info.type}`);
      for (const s of counters) lines.push(`${family}${formatLabels(s.labels)} ${formatNumber(s.value)}`);
      const buckets = info.buckets ?? [];
      for (const s of histograms) {
        let cumulative = 0;
        for (let i = 0; i <= buckets.length; i++) {
          cumulative += s.counts[i] ?? 0;
          const le = i < buckets.length ? formatNumber(buckets[i] ?? 0) : '+Inf';
          lines.push(`${family}_bucket${formatLabels(s.labels, ['le', le])} ${formatNumber(cumulative)}`);
        }
        lines.push(`${family}_sum${formatLabels(s.labels)} ${formatNumber(s.sum)}`);
        lines.push(`${family}_count${formatLabels(s.labels)} ${formatNumber(s.count)}`);
      }
    }
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }
}

// ---------------------------------------------------------------- HTTP

const MAX_BODY_BYTES = 64 * 1024;

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`request body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function handle(sim: Simulation, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = req.method ?? 'GET';
  if (url.pathname === '/metrics' && method === 'GET') {
    const text = sim.render();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(text);
    return;
  }
  if (url.pathname === '/healthz' && method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  if (url.pathname === '/targets' && method === 'GET') {
    sendJson(res, 200, sim.list());
    return;
  }
  const match = /^\/targets\/([^/]+)\/([^/]+)$/.exec(url.pathname);
  if (match) {
    const namespace = decodeURIComponent(match[1] ?? '');
    const name = decodeURIComponent(match[2] ?? '');
    if (method === 'PUT') {
      let target: TrafficTarget;
      try {
        const body: unknown = JSON.parse(await readBody(req));
        if (!isRecord(body)) throw new Error('target must be a JSON object');
        if ((body.namespace !== undefined && body.namespace !== namespace) || (body.name !== undefined && body.name !== name)) {
          throw new Error('namespace/name in the body differ from the URL path');
        }
        target = parseTarget({ ...body, namespace, name });
      } catch (err) {
        sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
        return;
      }
      sim.set(target);
      sendJson(res, 200, target);
      return;
    }
    if (method === 'DELETE') {
      const removed = sim.remove(namespace, name);
      if (removed) {
        res.writeHead(204);
        res.end();
      } else {
        sendJson(res, 404, { error: `no target ${namespace}/${name}` });
      }
      return;
    }
    res.writeHead(405, { allow: 'PUT, DELETE' });
    res.end();
    return;
  }
  sendJson(res, 404, { error: 'not found; try GET /metrics, GET /targets, PUT or DELETE /targets/<namespace>/<name>' });
}

/** Starts the generator on a free loopback port. */
export async function startTrafficGenerator(): Promise<TrafficGenerator> {
  const sim = new Simulation();
  const server = http.createServer((req, res) => {
    handle(sim, req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  // Requests are also simulated on every scrape and list; the timer keeps the
  // state current when nobody asks, and must not keep the process alive.
  const timer = setInterval(() => sim.advance(), TICK_MS);
  timer.unref();
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  return {
    url,
    metricsUrl: `${url}/metrics`,
    address: `127.0.0.1:${port}`,
    setTarget: (target) => {
      try {
        sim.set(parseTarget(target));
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },
    removeTarget: (namespace, name) => Promise.resolve(sim.remove(namespace, name)),
    listTargets: () => Promise.resolve(sim.list()),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** Controls a generator running in another process, through its HTTP API. */
export function trafficGeneratorClient(url: string): TrafficControl {
  const base = url.replace(/\/+$/, '');
  const targetUrl = (namespace: string, name: string): string =>
    `${base}/targets/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  const failure = async (res: Response, what: string): Promise<Error> => {
    const text = await res.text();
    let detail = text;
    try {
      const body: unknown = JSON.parse(text);
      if (isRecord(body) && typeof body.error === 'string') detail = body.error;
    } catch {
      // Not JSON; keep the text.
    }
    return new Error(`traffic generator: ${what} failed with HTTP ${res.status}: ${detail}`);
  };
  return {
    async setTarget(target) {
      const res = await fetch(targetUrl(target.namespace, target.name), {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(target),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw await failure(res, `PUT target ${target.namespace}/${target.name}`);
      await res.body?.cancel();
    },
    async removeTarget(namespace, name) {
      const res = await fetch(targetUrl(namespace, name), { method: 'DELETE', signal: AbortSignal.timeout(10_000) });
      if (res.status === 404) {
        await res.body?.cancel();
        return false;
      }
      if (!res.ok) throw await failure(res, `DELETE target ${namespace}/${name}`);
      await res.body?.cancel();
      return true;
    },
    async listTargets() {
      const res = await fetch(`${base}/targets`, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw await failure(res, 'GET /targets');
      return (await res.json()) as TargetStatus[];
    },
  };
}
