// Benchmark (not a test): many Canaries on one controller. Creates N target
// Deployments and Canaries (kubernetes router, Blue/Green with many
// iterations so rollouts stay in Progressing), waits until all are
// Initialized, starts a rollout on P of them, then measures for a while:
// p50/p99 lag between a step's scheduled time (last step + interval) and when
// it ran, API requests per minute by verb (GETs other than watches would be
// per-tick reads), and the RSS of the controller, which runs in its own
// process (bench/canary-scale-controller.ts). Uses the cluster named by
// SLUICE_TEST_KUBECONFIG, or starts its own local cluster.
//
//   node bench/canary-scale.ts [--canaries 500] [--progressing 100] [--interval 10s] [--seconds 120] [--node-options='--max-old-space-size=256']
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { API_GROUP_VERSION, type Canary } from '../src/api/types.ts';
import { KubeClient } from '../src/kube/client.ts';
import type { ChildMessage, ParentMessage } from './canary-scale-controller.ts';
import { runKubectl } from '../test/env/cluster.ts';
import { benchCluster } from './cluster.ts';

const { values } = parseArgs({
  options: {
    canaries: { type: 'string', default: '500' },
    progressing: { type: 'string', default: '100' },
    interval: { type: 'string', default: '10s' },
    seconds: { type: 'string', default: '120' },
    // V8 flags for the controller process, e.g. --max-old-space-size=256 (as NODE_OPTIONS would give them).
    'node-options': { type: 'string', default: '' },
  },
});
const total = Number(values.canaries);
const progressing = Math.min(total, Number(values.progressing));
const interval = values.interval;
const measureMs = Number(values.seconds) * 1000;

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
  const cluster = await benchCluster();
  const kubeconfig = cluster.kubeconfig;
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const result = await runKubectl(kubeconfig, args, input === undefined ? {} : { input });
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const namespace = `bench-canary-${Date.now().toString(36)}`;
  const setup = KubeClient.connect({ kubeconfig });
  let child: ChildProcess | undefined;
  const lags: number[] = [];
  try {
    await kubectl(['create', 'namespace', namespace]);
    const apply = (image: string, from: number, to: number) => kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=git', '-n', namespace, '-f', '-'],
      Array.from({ length: to - from }, (_, k) => deployment(from + k, image)).join('\n'));
    for (let i = 0; i < total; i += 100) await apply('example.com/app:1', i, Math.min(total, i + 100));

    // The controller runs in its own process, so its RSS is not the benchmark's.
    const controllerProcess = fork(path.join(import.meta.dirname, 'canary-scale-controller.ts'), [kubeconfig, namespace], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: values['node-options'].split(' ').filter(Boolean) });
    child = controllerProcess;
    const messages = new EventEmitter();
    controllerProcess.on('message', (message: ChildMessage) => {
      if (message.type === 'lags') lags.push(...message.lagsMs);
      messages.emit(message.type, message);
    });
    const exited = new Promise<never>((_, reject) => controllerProcess.once('exit', (code) => reject(new Error(`controller process exited with ${String(code)}`))));
    const next = <T extends ChildMessage['type']>(type: T): Promise<Extract<ChildMessage, { type: T }>> =>
      Promise.race([once(messages, type).then(([message]) => message as Extract<ChildMessage, { type: T }>), exited]);
    const tell = (message: ParentMessage): void => { controllerProcess.send(message); };
    await next('ready');

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

    lags.length = 0;
    tell({ type: 'start-measuring' });
    const measureStart = Date.now();
    await new Promise((resolve) => setTimeout(resolve, measureMs));
    const measuredReply = next('measured');
    tell({ type: 'stop-measuring' });
    const measured = await measuredReply;
    const minutes = (Date.now() - measureStart) / 60_000;
    const verbs = Object.keys(measured.requestsByVerb).sort();
    const perMinute = (verb: string) => ((measured.requestsByVerb[verb] ?? 0) / minutes).toFixed(0);
    const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
    const rss = measured.rssBytes;
    const out = [
      `canary scale benchmark: ${total} Canaries, ${progressing} progressing, interval ${interval}, Node ${process.version}${values['node-options'] ? ` (${values['node-options']})` : ''}, ${os.cpus().length} CPUs`,
      `initialization of ${total} Canaries: ${(initMs / 1000).toFixed(1)} s`,
      `steps measured: ${lags.length} (expected about ${Math.round((progressing * measureMs) / (Number.parseFloat(interval) * 1000))})`,
      `step lag (actual - scheduled): p50 ${percentile(lags, 50).toFixed(0)} ms, p99 ${percentile(lags, 99).toFixed(0)} ms, max ${Math.max(...lags).toFixed(0)} ms`,
      `API requests per minute: ${verbs.map((verb) => `${verb} ${perMinute(verb)}`).join(', ') || 'none'} (watches not counted)`,
      `controller process RSS: first ${mib(rss[0] ?? 0)}, max ${mib(Math.max(...rss))}, last ${mib(rss[rss.length - 1] ?? 0)}; V8 heap used: first ${mib(measured.heapUsedBytes[0] ?? 0)}, max ${mib(Math.max(...measured.heapUsedBytes))}; external: max ${mib(Math.max(...measured.externalBytes))}`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    if (child && child.exitCode === null) {
      const gone = once(child, 'exit');
      child.send({ type: 'exit' } satisfies ParentMessage);
      await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      child.kill('SIGKILL');
    }
    setup.close();
    await runKubectl(kubeconfig, ['delete', 'namespace', namespace, '--wait=false']);
    await cluster.stop();
  }
}

await main();
