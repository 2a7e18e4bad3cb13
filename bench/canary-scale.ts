// Benchmark (not a test): many Canaries on one controller. Creates N target
// Deployments and Canaries (kubernetes router, Blue/Green with many
// iterations so rollouts stay in Progressing), waits until all are
// Initialized, starts a rollout on P of them, then measures for a while:
// p50/p99 lag between a step's scheduled time (last step + interval) and when
// it ran, API requests per minute by verb (GETs other than watches would be
// per-tick reads), and the process's RSS. Uses the cluster named by
// SLUICE_TEST_KUBECONFIG, or starts its own local cluster.
//
//   node bench/canary-scale.ts [--canaries 500] [--progressing 100] [--interval 10s] [--seconds 120]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { API_GROUP_VERSION, type Canary } from '../src/api/types.ts';
import { CanaryController } from '../src/canary/controller.ts';
import { parseConfig } from '../src/config.ts';
import { createDeps } from '../src/controllers.ts';
import { KubeClient } from '../src/kube/client.ts';
import { EventRecorder } from '../src/kube/events.ts';
import type { RequestSpec } from '../src/kube/rest.ts';
import { runKubectl, startCluster, stopCluster } from '../test/env/cluster.ts';

const { values } = parseArgs({
  options: {
    canaries: { type: 'string', default: '500' },
    progressing: { type: 'string', default: '100' },
    interval: { type: 'string', default: '10s' },
    seconds: { type: 'string', default: '120' },
  },
});
const total = Number(values.canaries);
const progressing = Math.min(total, Number(values.progressing));
const interval = values.interval;
const measureMs = Number(values.seconds) * 1000;
const logger = pino({ level: 'warn' });

const name = (i: number): string => `app-${String(i).padStart(4, '0')}`;

function deployment(i: number, image: string): string {
  return JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: name(i) },
    spec: {
      replicas: 1, selector: { matchLabels: { app: name(i) } },
      template: { metadata: { labels: { app: name(i) } }, spec: { containers: [{ name: 'app', image }] } },
    },
  });
}

function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  return Date.now() - started;
}

async function main(): Promise<void> {
  let clusterDir: string | undefined;
  let kubeconfig = process.env.SLUICE_TEST_KUBECONFIG;
  if (!kubeconfig) {
    clusterDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-bench-cluster-'));
    process.stderr.write('starting a local cluster...\n');
    kubeconfig = (await startCluster(clusterDir)).kubeconfig;
    const crds = await runKubectl(kubeconfig, ['apply', '--server-side', '-f', path.resolve(import.meta.dirname, '../crds')]);
    if (crds.code !== 0) throw new Error(crds.stderr);
    await runKubectl(kubeconfig, ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  }
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const result = await runKubectl(kubeconfig, args, input === undefined ? {} : { input });
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const namespace = `bench-canary-${Date.now().toString(36)}`;
  const client = KubeClient.connect({ kubeconfig });
  // Counts every non-watch request of the controller's client by verb.
  const byVerb = new Map<string, number>();
  const request = client.rest.request.bind(client.rest);
  client.rest.request = <T>(spec: RequestSpec): Promise<T> => {
    byVerb.set(spec.method, (byVerb.get(spec.method) ?? 0) + 1);
    return request<T>(spec);
  };
  const setup = KubeClient.connect({ kubeconfig });
  const lags: number[] = [];
  let measuring = false;
  let controller: CanaryController | undefined;
  try {
    await kubectl(['create', 'namespace', namespace]);
    const apply = (image: string, from: number, to: number) => kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=git', '-n', namespace, '-f', '-'],
      Array.from({ length: to - from }, (_, k) => deployment(from + k, image)).join('\n'));
    for (let i = 0; i < total; i += 100) await apply('example.com/app:1', i, Math.min(total, i + 100));

    const config = { ...parseConfig([], {}), namespaces: [namespace], concurrency: 8 };
    const deps = createDeps({ config, client, logger, events: new EventRecorder(client, { logger }) });
    controller = new CanaryController(deps, { onStep: ({ lagMs }) => { if (measuring) lags.push(lagMs); } });
    await controller.start();

    const canary = (i: number): Canary => ({
      apiVersion: API_GROUP_VERSION, kind: 'Canary', metadata: { name: name(i), namespace },
      spec: {
        provider: 'kubernetes', targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: name(i) },
        service: { port: 80 }, analysis: { interval, iterations: 100_000, threshold: 5 },
      },
    });
    const started = Date.now();
    for (let i = 0; i < total; i += 20) await Promise.all(Array.from({ length: Math.min(20, total - i) }, (_, k) => setup.apply(canary(i + k))));
    const list = () => setup.list<Canary>(API_GROUP_VERSION, 'Canary', { namespace });
    const count = async (phase: string) => (await list()).items.filter((c) => c.status?.phase === phase).length;
    await waitFor(`${total} Canaries Initialized`, 30 * 60_000, async () => (await count('Initialized')) === total);
    const initMs = Date.now() - started;
    process.stderr.write(`${total} Canaries initialized in ${(initMs / 1000).toFixed(1)} s\n`);

    for (let i = 0; i < progressing; i += 100) await apply('example.com/app:2', i, Math.min(progressing, i + 100));
    const rampMs = await waitFor(`${progressing} Canaries Progressing with a first step`, 10 * 60_000, async () => (await list()).items.filter((c) => c.status?.phase === 'Progressing' && (c.status.iterations ?? 0) >= 1).length === progressing);
    process.stderr.write(`${progressing} rollouts started and took their first step in ${(rampMs / 1000).toFixed(1)} s; measuring for ${measureMs / 1000} s\n`);

    byVerb.clear();
    measuring = true;
    const rssSamples: number[] = [];
    const heapSamples: number[] = [];
    const measureStart = Date.now();
    while (Date.now() - measureStart < measureMs) {
      const memory = process.memoryUsage();
      rssSamples.push(memory.rss);
      heapSamples.push(memory.heapUsed);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    measuring = false;
    const minutes = (Date.now() - measureStart) / 60_000;
    const perMinute = (verb: string) => ((byVerb.get(verb) ?? 0) / minutes).toFixed(0);
    const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
    const out = [
      `canary scale benchmark: ${total} Canaries, ${progressing} progressing, interval ${interval}, Node ${process.version}, ${os.cpus().length} CPUs`,
      `initialization of ${total} Canaries: ${(initMs / 1000).toFixed(1)} s`,
      `steps measured: ${lags.length} (expected about ${Math.round((progressing * measureMs) / (Number.parseFloat(interval) * 1000))})`,
      `step lag (actual - scheduled): p50 ${percentile(lags, 50).toFixed(0)} ms, p99 ${percentile(lags, 99).toFixed(0)} ms, max ${Math.max(...lags).toFixed(0)} ms`,
      `API requests per minute: ${[...byVerb.keys()].sort().map((verb) => `${verb} ${perMinute(verb)}`).join(', ') || 'none'} (watches not counted)`,
      `RSS: max ${mib(Math.max(...rssSamples))}, last ${mib(rssSamples[rssSamples.length - 1] ?? 0)}; V8 heap used: max ${mib(Math.max(...heapSamples))} (whole benchmark process, which also created the objects and polled their status)`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await controller?.stop();
    client.close();
    setup.close();
    await runKubectl(kubeconfig, ['delete', 'namespace', namespace, '--wait=false']);
    if (clusterDir) {
      await stopCluster(clusterDir);
      await rm(clusterDir, { recursive: true, force: true });
    }
  }
}

await main();
