// The end-to-end demo behind `bash scripts/run-local.sh`: Git → cluster →
// canary rollout gated by Prometheus → promotion, then a bad version that is
// rolled back and the rollback committed back to Git, with every stage also
// posted to a (local) chat webhook.
// Everything is real and on this machine: the local Kubernetes control plane,
// a git smart-HTTP server, Prometheus scraping a traffic generator that plays
// the service mesh, and the sluice controller itself.
//
//   node scripts/demo.ts --kubeconfig PATH
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { API_GROUP_VERSION, type Canary, type Sync } from '../src/api/types.ts';
import { parseConfig } from '../src/config.ts';
import { KubeClient } from '../src/kube/client.ts';
import { createLogger } from '../src/log.ts';
import { startControllerProcess } from '../src/main.ts';
import { ChatReceiver } from '../test/env/chat-receivers.ts';
import { startGitServer } from '../test/env/git-server.ts';
import { freePort } from '../test/env/ports.ts';
import { startPrometheus } from '../test/env/prometheus.ts';
import { startTrafficGenerator } from '../test/env/traffic-generator.ts';

const { values } = parseArgs({ options: { kubeconfig: { type: 'string' }, 'log-file': { type: 'string' } } });
if (!values.kubeconfig) throw new Error('usage: node scripts/demo.ts --kubeconfig PATH');
const namespace = 'demo';
const started = Date.now();
const say = (text: string) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${text}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const deployment = (version: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  replicas: 2
  selector:
    matchLabels: {app: podinfo}
  template:
    metadata:
      labels: {app: podinfo}
    spec:
      containers:
        - name: podinfod
          image: ghcr.io/stefanprodan/podinfo:${version}
          ports: [{containerPort: 9898, name: http}]
`;

// A Flagger-style Canary: same field names as flagger.app/v1beta1.
const canary = `apiVersion: sluice.dev/v1alpha1
kind: Canary
metadata:
  name: podinfo
spec:
  provider: istio
  # sluice extension: after a rollback, commit the good image back to Git.
  writeBackRollback: true
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 4s
    threshold: 2
    maxWeight: 60
    stepWeight: 20
    metrics:
      - name: request-success-rate
        interval: 10s
        thresholdRange: {min: 99}
      - name: request-duration
        interval: 10s
        thresholdRange: {max: 500}
`;

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main(): Promise<void> {
  const kubeconfig = values.kubeconfig ?? '';
  const client = KubeClient.connect({ kubeconfig });
  const logFile = values['log-file'] ?? path.resolve('.cache/demo-controller.log');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });

  say('Starting the real components: a git server, a traffic generator playing the mesh, Prometheus, a chat webhook.');
  const git = await startGitServer();
  const repo = await git.createRepo('podinfo');
  const traffic = await startTrafficGenerator();
  await traffic.setTarget({ namespace, name: 'podinfo-primary', rps: 40, errorRate: 0, latencyMs: { p50: 20, p99: 80 } });
  await traffic.setTarget({ namespace, name: 'podinfo', rps: 10, errorRate: 0, latencyMs: { p50: 20, p99: 80 } });
  const prometheus = await startPrometheus({ scrapeTargets: [traffic.address] });
  const chat = await ChatReceiver.start({ type: 'slack' });

  say(`Starting the sluice controller (its log: ${path.relative(process.cwd(), logFile)}).`);
  const healthPort = await freePort();
  const config = parseConfig([`--kubeconfig=${kubeconfig}`, `--namespaces=${namespace}`, `--health-port=${healthPort}`, '--health-address=127.0.0.1', '--receiver-port=0', `--metrics-server=${prometheus.url}`], {});
  const controllerLog = createLogger({ level: 'info', destination: fs.createWriteStream(logFile) });
  await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  const sluice = await startControllerProcess(config, controllerLog);

  let shownChat = 0;
  const showChat = () => {
    for (const request of chat.requests.slice(shownChat)) {
      const body = request.json as { text?: string; attachments?: { title?: string; text?: string }[] };
      const title = body.attachments?.[0]?.title ?? body.text ?? '';
      say(`  chat ▸ ${title.replace(/\s+/g, ' ').slice(0, 110)}`);
    }
    shownChat = chat.requests.length;
  };
  /** Subject of the newest commit on the server's branch (the workdir fetches it). */
  const latestSubject = async (): Promise<string> => {
    await repo.git('fetch', '-q', 'origin');
    return (await repo.git('log', '-1', '--format=%s', `origin/${repo.branch}`)).trim();
  };
  const getCanary = () => client.get<Canary>({ apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name: 'podinfo' });
  /** Narrates the rollout until the Canary reaches one of the final phases. */
  const follow = async (finals: string[]): Promise<Canary> => {
    let last = '';
    for (;;) {
      const current = await getCanary();
      const status = current.status;
      const checks = (status?.metrics ?? []).map((m) => `${m.name} ${m.value === undefined ? '-' : Number(m.value).toFixed(1)}`).join(', ');
      const line = `Canary ${status?.phase ?? '?'}: ${status?.canaryWeight ?? 0}% of traffic on the new version` + (checks ? ` (${checks})` : '') + (status?.failedChecks ? `, failed checks ${status.failedChecks}/2` : '');
      const key = `${status?.phase}/${status?.canaryWeight}/${status?.failedChecks}`;
      if (status?.phase && key !== last) {
        say(line);
        last = key;
      }
      showChat();
      if (status?.phase && finals.includes(status.phase)) return current;
      await sleep(300);
    }
  };

  try {
    await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'chat', namespace }, stringData: { address: chat.address('T000/B000/demo-token') } });
    await client.apply({ apiVersion: API_GROUP_VERSION, kind: 'AlertProvider', metadata: { name: 'team-chat', namespace }, spec: { type: 'slack', channel: 'deploys', secretRef: { name: 'chat' } } });
    await client.apply({ apiVersion: API_GROUP_VERSION, kind: 'Alert', metadata: { name: 'rollouts', namespace }, spec: { providerRef: { name: 'team-chat' }, eventSources: [{ kind: 'Canary', name: '*' }], eventSeverity: 'info' } });

    say('1. Git holds podinfo 6.0.0 and its Canary; sluice is pointed at the repository.');
    await repo.commitFiles({ 'deploy/deployment.yaml': deployment('6.0.0'), 'deploy/canary.yaml': canary }, 'podinfo 6.0.0');
    await repo.push();
    await client.apply({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name: 'podinfo', namespace }, spec: { url: repo.url, interval: '2s', ref: { branch: repo.branch } } });
    await client.apply({ apiVersion: API_GROUP_VERSION, kind: 'Sync', metadata: { name: 'podinfo', namespace }, spec: { sourceRef: { kind: 'GitRepository', name: 'podinfo' }, path: './deploy', interval: '1m', prune: true } });
    const synced = await waitFor('the first Sync', async () => {
      const sync = await client.get<Sync>({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace, name: 'podinfo' });
      return sync.status?.lastAppliedRevision ? sync : undefined;
    });
    say(`   Applied ${synced.status?.lastAppliedRevision}: Deployment podinfo and Canary podinfo are in the cluster.`);
    await follow(['Initialized']);
    say('   The Canary took over: podinfo-primary serves all traffic; podinfo (the canary) is scaled to zero.');

    say('2. A developer pushes podinfo 6.0.1. The new version is healthy: sluice shifts traffic step by step while Prometheus agrees.');
    await repo.commitFiles({ 'deploy/deployment.yaml': deployment('6.0.1') }, 'podinfo 6.0.1');
    await repo.push();
    const promoted = await follow(['Succeeded', 'Failed']);
    say(promoted.status?.phase === 'Succeeded' ? '   Promoted: 6.0.1 now runs as podinfo-primary and gets all traffic.' : `   Unexpected: ${promoted.status?.phase}`);

    say('3. Next, podinfo 6.0.2 ships a bug: 30% of its requests fail. sluice sees it in Prometheus and rolls back.');
    await traffic.setTarget({ namespace, name: 'podinfo', rps: 10, errorRate: 0.3, latencyMs: { p50: 20, p99: 80 } });
    await repo.commitFiles({ 'deploy/deployment.yaml': deployment('6.0.2') }, 'podinfo 6.0.2');
    await repo.push();
    await waitFor('the new revision to start', async () => ((await getCanary()).status?.phase === 'Succeeded' ? undefined : true));
    const failed = await follow(['Failed', 'Succeeded']);
    await sleep(1_500);
    showChat();
    say(`   Rolled back: ${failed.status?.failedRevision?.reason ?? failed.status?.phase}`);
    const declared = failed.status?.conditions?.find((c) => c.type === 'FailedRevisionDeclared');
    if (declared) say(`   ${declared.message}`);
    const primary = await client.get<{ apiVersion: string; kind: string; metadata: { name: string }; spec: { template: { spec: { containers: { image: string }[] } } } }>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'podinfo-primary' });
    say(`   Users never left the good version: podinfo-primary still runs ${primary.spec.template.spec.containers[0]?.image}.`);

    say('   Git still says 6.0.2, so sluice writes the rollback back to Git (spec.writeBackRollback):');
    const written = await waitFor('the write-back commit', async () => {
      const subject = await latestSubject();
      return subject.startsWith('Roll back') ? subject : undefined;
    }, 60_000);
    say(`   commit on ${repo.branch}: "${written}"`);
    await waitFor('the Sync to apply the write-back', async () => {
      const current = await getCanary();
      return current.status?.conditions?.some((c) => c.type === 'FailedRevisionDeclared') ? undefined : true;
    }, 60_000);
    const target = await client.get<{ apiVersion: string; kind: string; metadata: { name: string }; spec: { template: { spec: { containers: { image: string }[] } } } }>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'podinfo' });
    say(`   The Sync applied it: Deployment podinfo declares ${target.spec.template.spec.containers[0]?.image} again; Git and the cluster agree.`);
    showChat();

    const metrics = await (await fetch(`http://127.0.0.1:${sluice.health.port}/metrics`)).text();
    const reconciles = metrics.split('\n').filter((l) => l.startsWith('sluice_reconcile_total{') && !l.endsWith(' 0'));
    say(`4. The controller's /metrics (port ${sluice.health.port}), Flagger's series under sluice_:`);
    const canaryLines = metrics.split('\n').filter((l) => /^sluice_canary_(status|weight|successes_total|failures_total|metric_analysis)\{/.test(l));
    for (const line of [...canaryLines, ...reconciles]) say(`   ${line}`);
    say(`Done. ${chat.requests.length} chat messages, one per stage a reader cares about.`);
    say(`To look around afterwards, run with --keep-cluster, then: .tools/bin/localcluster kubectl --kubeconfig ${kubeconfig} -n ${namespace} get canary,sync,gitrepository`);
  } finally {
    await sluice.stop();
    await chat.close();
    await prometheus.stop();
    await traffic.stop();
    await git.close();
    client.close();
  }
}

await main();
