// Benchmark (not a test): a Sync reconcile of 1,000 ConfigMaps — first apply
// and no-change re-syncs — next to `kubectl apply --server-side` of the same
// files on the same cluster. Uses the cluster named by SLUICE_TEST_KUBECONFIG,
// or starts its own local cluster.
//
//   node bench/sync-apply.ts [--objects 1000] [--concurrency 16]
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { API_GROUP_VERSION, type Sync } from '../src/api/types.ts';
import { parseConfig } from '../src/config.ts';
import { createDeps } from '../src/controllers.ts';
import { artifactDigest } from '../src/gitops/source/artifact.ts';
import { SyncController } from '../src/gitops/sync/controller.ts';
import { KubeClient } from '../src/kube/client.ts';
import { EventRecorder } from '../src/kube/events.ts';
import { runKubectl } from '../test/env/cluster.ts';
import { benchCluster } from './cluster.ts';

const { values } = parseArgs({ options: { objects: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '16' } } });
const count = Number(values.objects);
const applyConcurrency = Number(values.concurrency);
const logger = pino({ level: 'warn' });

function configMap(index: number): string {
  const name = `cm-${String(index).padStart(4, '0')}`;
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  labels:\n    app: bench\ndata:\n  index: "${index}"\n  payload: "${'x'.repeat(200)}"\n`;
}

async function timed(fn: () => Promise<unknown>): Promise<{ ms: number }> {
  const started = performance.now();
  await fn();
  return { ms: performance.now() - started };
}

async function main(): Promise<void> {
  const cluster = await benchCluster();
  const kubeconfig = cluster.kubeconfig;
  const kubectl = async (args: string[]) => {
    const result = await runKubectl(kubeconfig, args);
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const suffix = Date.now().toString(36);
  const sluiceNs = `bench-sluice-${suffix}`;
  const kubectlNs = `bench-kubectl-${suffix}`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-bench-manifests-'));
  const client = KubeClient.connect({ kubeconfig });
  try {
    await kubectl(['create', 'namespace', sluiceNs]);
    await kubectl(['create', 'namespace', kubectlNs]);
    await mkdir(path.join(dir, 'manifests'));
    for (let i = 0; i < count; i++) await writeFile(path.join(dir, 'manifests', `cm-${String(i).padStart(4, '0')}.yaml`), configMap(i));

    // The same files as an artifact.
    const files = new Map<string, Uint8Array>();
    for (const file of await readdir(path.join(dir, 'manifests'))) files.set(`manifests/${file}`, await readFile(path.join(dir, 'manifests', file)));
    const config = { ...parseConfig([], {}), namespaces: [sluiceNs] };
    const deps = createDeps({ config, client, logger, events: new EventRecorder(client, { logger }) });
    deps.artifacts.set(sluiceNs, 'bench', {
      revision: `main@sha1:${'a'.repeat(40)}`, digest: artifactDigest(files), files,
      size: [...files.values()].reduce((n, b) => n + b.length, 0), fetchedAt: new Date(),
    });
    await client.apply({
      apiVersion: API_GROUP_VERSION, kind: 'Sync', metadata: { name: 'bench', namespace: sluiceNs },
      spec: { sourceRef: { kind: 'GitRepository', name: 'bench' }, path: './manifests', interval: '10m', prune: true },
    });
    const getSync = () => client.get<Sync>({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace: sluiceNs, name: 'bench' });
    const context = { log: logger, signal: new AbortController().signal };

    // Warm both paths up (connections, discovery, kubectl's binary in the page cache).
    await kubectl(['apply', '--server-side', '-n', kubectlNs, '-f', path.join(dir, 'manifests', 'cm-0000.yaml')]);
    await kubectl(['delete', '-n', kubectlNs, 'configmap', 'cm-0000']);

    const controller = new SyncController(deps, { applyConcurrency });
    const rssBefore = process.resourceUsage().maxRSS;
    const requests0 = client.rest.requestCount;
    const cpu0 = process.cpuUsage();
    const first = await timed(async () => controller.reconcile(await getSync(), context));
    const firstCpu = process.cpuUsage(cpu0);
    const requests1 = client.rest.requestCount;
    const firstRun = controller.lastRun(sluiceNs, 'bench');
    if (firstRun?.outcome !== 'applied') throw new Error(`first apply failed: ${JSON.stringify(firstRun?.problems.slice(0, 3))}`);
    const warm = await timed(async () => controller.reconcile(await getSync(), context));
    const requests2 = client.rest.requestCount;
    // A freshly started controller remembers nothing: every object is dry-run and compared.
    const coldController = new SyncController(deps, { applyConcurrency });
    const cold = await timed(async () => coldController.reconcile(await getSync(), context));
    const requests3 = client.rest.requestCount;
    const coldRun = coldController.lastRun(sluiceNs, 'bench');
    const unchanged = coldRun?.changes.filter((c) => c.action === 'unchanged').length ?? 0;
    const peakRss = process.resourceUsage().maxRSS;

    const kubectlFirst = await timed(() => kubectl(['apply', '--server-side', '-n', kubectlNs, '-f', path.join(dir, 'manifests')]));
    const kubectlAgain = await timed(() => kubectl(['apply', '--server-side', '-n', kubectlNs, '-f', path.join(dir, 'manifests')]));

    const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const ratio = (k: number, s: number) => `${(k / s).toFixed(1)}x`;
    const rows = [
      ['first apply', sec(first.ms), sec(kubectlFirst.ms), ratio(kubectlFirst.ms, first.ms), `${requests1 - requests0} requests`],
      ['no-change re-sync (warm controller)', sec(warm.ms), sec(kubectlAgain.ms), ratio(kubectlAgain.ms, warm.ms), `${requests2 - requests1} requests`],
      ['no-change re-sync (restarted controller)', sec(cold.ms), sec(kubectlAgain.ms), ratio(kubectlAgain.ms, cold.ms), `${requests3 - requests2} requests, ${unchanged}/${count} unchanged`],
    ];
    process.stdout.write(`sync apply benchmark: ${count} ConfigMaps, Node ${process.version}, ${os.cpus().length} CPUs\n\n`);
    process.stdout.write(`${'scenario'.padEnd(42)}${'sluice'.padStart(10)}${'kubectl'.padStart(10)}${'kubectl/sluice'.padStart(16)}   sluice API requests\n`);
    for (const [name, s, k, r, q] of rows) process.stdout.write(`${(name ?? '').padEnd(42)}${(s ?? '').padStart(10)}${(k ?? '').padStart(10)}${(r ?? '').padStart(16)}   ${q}\n`);
    process.stdout.write(`\nsluice CPU during the first apply: ${((firstCpu.user + firstCpu.system) / 1e6).toFixed(2)} s; ${applyConcurrency} API calls in flight\n`);
    process.stdout.write(`peak RSS of the benchmark process: ${(peakRss / 1024).toFixed(0)} MiB (${(rssBefore / 1024).toFixed(0)} MiB before the first apply)\n`);
  } finally {
    // No controller runs to honour the Sync's prune-on-deletion finalizer; drop it so the namespace can go.
    await client.patchMerge({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace: sluiceNs, name: 'bench' }, { metadata: { finalizers: null } }).catch(() => undefined);
    client.close();
    await runKubectl(kubeconfig, ['delete', 'namespace', sluiceNs, kubectlNs, '--wait=false']);
    await rm(dir, { recursive: true, force: true });
    await cluster.stop();
  }
}

await main();
