// Benchmark (not a test): time from `git push` to the pushed objects applied
// in the cluster, once through a Receiver webhook and once by polling, with the
// real git server, GitRepository, Receiver and Sync controllers and a local
// cluster. Prints per-run times, medians and the controller's peak RSS.
//
//   node bench/push-to-apply.ts [--runs 5] [--poll-interval 5s]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { API_GROUP_VERSION, type GitRepository, type Receiver, type Sync } from '../src/api/types.ts';
import { parseConfig } from '../src/config.ts';
import { createDeps } from '../src/controllers.ts';
import { ReceiverController } from '../src/gitops/receiver/controller.ts';
import { signBody } from '../src/gitops/receiver/signature.ts';
import { GitRepositoryController } from '../src/gitops/source/controller.ts';
import { SyncController } from '../src/gitops/sync/controller.ts';
import { KubeClient } from '../src/kube/client.ts';
import { EventRecorder } from '../src/kube/events.ts';
import { runKubectl, startCluster, stopCluster } from '../test/env/cluster.ts';
import { startGitServer } from '../test/env/git-server.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'poll-interval': { type: 'string', default: '5s' } } });
const runs = Number(values.runs);
const logger = pino({ level: 'warn' });
const token = 'bench-webhook-token';

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

async function main(): Promise<void> {
  const clusterDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-push-'));
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-push-cache-'));
  process.stderr.write('starting a local cluster...\n');
  const { kubeconfig } = await startCluster(clusterDir);
  const crds = await runKubectl(kubeconfig, ['apply', '--server-side', '-f', path.resolve(import.meta.dirname, '../crds')]);
  if (crds.code !== 0) throw new Error(crds.stderr);
  await runKubectl(kubeconfig, ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  const namespace = 'bench';
  await runKubectl(kubeconfig, ['create', 'namespace', namespace]);

  const client = KubeClient.connect({ kubeconfig });
  const git = await startGitServer();
  const repo = await git.createRepo('fleet');
  const config = parseConfig(['--namespaces', namespace, '--git-cache-dir', cacheDir, '--receiver-port', '0', '--health-address', '127.0.0.1'], {});
  const deps = createDeps({ config, client, logger, events: new EventRecorder(client, { logger }) });
  const sources = new GitRepositoryController(deps);
  const syncs = new SyncController(deps);
  const receivers = new ReceiverController(deps);
  sources.start();
  syncs.start();
  await receivers.start();
  try {
    let sha = await repo.commitFiles({ 'apps/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  run: "0"\n' }, 'first');
    await repo.push();
    await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'webhook-token', namespace }, stringData: { token } });
    const gitRepository = (interval: string): GitRepository => ({
      apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name: 'fleet', namespace },
      spec: { url: repo.url, interval, ref: { branch: repo.branch } },
    });
    await client.apply(gitRepository('1h'));
    await client.apply<Sync>({
      apiVersion: API_GROUP_VERSION, kind: 'Sync', metadata: { name: 'apps', namespace },
      spec: { sourceRef: { kind: 'GitRepository', name: 'fleet' }, path: './apps', interval: '1h', prune: true },
    });
    await client.apply<Receiver>({
      apiVersion: API_GROUP_VERSION, kind: 'Receiver', metadata: { name: 'push', namespace },
      spec: { type: 'generic-hmac', secretRef: { name: 'webhook-token' }, resources: [{ kind: 'GitRepository', name: 'fleet' }] },
    });
    const appliedRevision = async () => (await client.get<Sync>({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace, name: 'apps' })).status?.lastAppliedRevision;
    const waitApplied = async (commit: string, run: number) => {
      for (;;) {
        if (await appliedRevision() === `main@sha1:${commit}`) {
          const cm = await client.find<{ apiVersion: string; kind: string; metadata: { name: string }; data?: Record<string, string> }>({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name: 'app' });
          if (cm?.data?.run === String(run)) return;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await waitApplied(sha, 0);
    const hookPath = await (async () => {
      for (;;) {
        const receiver = await client.get<Receiver>({ apiVersion: API_GROUP_VERSION, kind: 'Receiver', namespace, name: 'push' });
        if (receiver.status?.webhookPath) return receiver.status.webhookPath;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const commitRun = async (run: number) => repo.commitFiles({ 'apps/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  run: "${run}"\n` }, `run ${run}`);

    const viaReceiver: number[] = [];
    for (let run = 1; run <= runs; run++) {
      sha = await commitRun(run);
      const started = performance.now();
      await repo.push();
      const body = JSON.stringify({ ref: 'refs/heads/main', after: sha });
      const res = await fetch(`http://127.0.0.1:${receivers.port ?? 0}${hookPath}`, { method: 'POST', body, headers: { 'x-signature': signBody(body, token) } });
      if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
      await waitApplied(sha, run);
      viaReceiver.push(performance.now() - started);
    }

    await client.apply(gitRepository(values['poll-interval']));
    const viaPolling: number[] = [];
    for (let run = runs + 1; run <= 2 * runs; run++) {
      sha = await commitRun(run);
      const started = performance.now();
      await repo.push();
      await waitApplied(sha, run);
      viaPolling.push(performance.now() - started);
    }

    const fmt = (xs: number[]) => xs.map((x) => `${Math.round(x)}`).join(', ');
    console.log(`push → applied via Receiver (ms): ${fmt(viaReceiver)}; median ${Math.round(median(viaReceiver))}`);
    console.log(`push → applied by polling every ${values['poll-interval']} (ms): ${fmt(viaPolling)}; median ${Math.round(median(viaPolling))}`);
    console.log(`ratio polling / receiver (medians): ${(median(viaPolling) / median(viaReceiver)).toFixed(1)}x`);
    console.log(`controller peak RSS: ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`);
  } finally {
    await receivers.stop();
    await syncs.stop();
    await sources.stop();
    await git.close();
    client.close();
    await stopCluster(clusterDir);
    fs.rmSync(clusterDir, { recursive: true, force: true });
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
}

await main();
