// The controller half of bench/canary-scale.ts, in its own process so its RSS
// is the controller's alone. Forked with an IPC channel: it reports step lags
// while measuring, and answers "stop-measuring" with the API requests per verb
// and memory samples taken in the measuring window.
import { pino } from 'pino';
import { CanaryController } from '../src/canary/controller.ts';
import { parseConfig } from '../src/config.ts';
import { createDeps } from '../src/controllers.ts';
import { KubeClient } from '../src/kube/client.ts';
import { EventRecorder } from '../src/kube/events.ts';
import type { RequestSpec } from '../src/kube/rest.ts';

export type ParentMessage = { type: 'start-measuring' } | { type: 'stop-measuring' } | { type: 'exit' };
export type ChildMessage =
  | { type: 'ready' }
  | { type: 'lags'; lagsMs: number[] }
  | { type: 'measured'; requestsByVerb: Record<string, number>; rssBytes: number[]; heapUsedBytes: number[]; externalBytes: number[] };

const [kubeconfig, namespace] = process.argv.slice(2);
if (!kubeconfig || !namespace || !process.send) throw new Error('usage: forked by bench/canary-scale.ts with <kubeconfig> <namespace>');
const send = (message: ChildMessage): void => { process.send?.(message); };
const logger = pino({ level: 'warn' });

const client = KubeClient.connect({ kubeconfig });
// Counts every non-watch request by verb.
const byVerb = new Map<string, number>();
const request = client.rest.request.bind(client.rest);
client.rest.request = <T>(spec: RequestSpec): Promise<T> => {
  byVerb.set(spec.method, (byVerb.get(spec.method) ?? 0) + 1);
  return request<T>(spec);
};

let measuring = false;
let lags: number[] = [];
const rss: number[] = [];
const heap: number[] = [];
const external: number[] = [];
const config = { ...parseConfig([], {}), namespaces: [namespace], concurrency: 8 };
const deps = createDeps({ config, client, logger, events: new EventRecorder(client, { logger }) });
const controller = new CanaryController(deps, { onStep: ({ lagMs }) => { if (measuring) lags.push(lagMs); } });
await controller.start();

const sampler = setInterval(() => {
  if (!measuring) return;
  const memory = process.memoryUsage();
  rss.push(memory.rss);
  heap.push(memory.heapUsed);
  external.push(memory.external);
}, 1_000);
const flusher = setInterval(() => {
  if (lags.length === 0) return;
  send({ type: 'lags', lagsMs: lags });
  lags = [];
}, 2_000);

process.on('message', (message: ParentMessage) => {
  if (message.type === 'start-measuring') {
    byVerb.clear();
    measuring = true;
  } else if (message.type === 'stop-measuring') {
    measuring = false;
    if (lags.length > 0) send({ type: 'lags', lagsMs: lags });
    lags = [];
    send({ type: 'measured', requestsByVerb: Object.fromEntries(byVerb), rssBytes: rss, heapUsedBytes: heap, externalBytes: external });
  } else {
    clearInterval(sampler);
    clearInterval(flusher);
    void controller.stop().finally(() => { client.close(); process.exit(0); });
  }
});
send({ type: 'ready' });
