// node --test global setup: one real control plane for the whole run, with
// the routers' third-party CRDs and sluice's own CRDs installed.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { loadAll } from 'js-yaml';
import { convertCrdToV1 } from './crd-convert.ts';
import { eventually, repoRoot, runKubectl, startCluster, stopCluster, thirdPartyCrdDir } from './cluster.ts';

let clusterDir: string | undefined;

async function applyDir(kubeconfig: string, dir: string): Promise<void> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  if (files.length === 0) return;
  const docs: unknown[] = [];
  for (const file of files) {
    for (const doc of loadAll(await readFile(path.join(dir, file), 'utf8'))) {
      if (typeof doc === 'object' && doc !== null) docs.push(convertCrdToV1(doc as Record<string, unknown>));
    }
  }
  const input = docs.map((doc) => JSON.stringify(doc)).join('\n---\n');
  const result = await runKubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input });
  if (result.code !== 0) throw new Error(`installing CRDs from ${dir} failed:\n${result.stderr}`);
  await eventually(async () => {
    const listed = await runKubectl(kubeconfig, ['get', 'crd', '-o', 'json']);
    const crds = (JSON.parse(listed.stdout) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] }).items;
    return crds.every((crd) => crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) ? true : undefined;
  }, { timeoutMs: 60_000, what: `CRDs from ${dir} to be Established` });
}

export async function globalSetup(): Promise<void> {
  if (process.env.SLUICE_TEST_KUBECONFIG) return;
  clusterDir = path.join(repoRoot, '.cache', `test-cluster-${process.pid}`);
  await rm(clusterDir, { recursive: true, force: true });
  await mkdir(clusterDir, { recursive: true });
  const started = Date.now();
  const { kubeconfig, server } = await startCluster(clusterDir);
  process.stderr.write(`[test-env] local cluster ready in ${((Date.now() - started) / 1000).toFixed(1)}s at ${server}\n`);
  try {
    await applyDir(kubeconfig, thirdPartyCrdDir);
    await applyDir(kubeconfig, path.join(repoRoot, 'crds'));
  } catch (error) {
    // The runner skips teardown when setup throws; do not leave a cluster behind.
    await globalTeardown();
    throw error;
  }
  process.env.SLUICE_TEST_KUBECONFIG = kubeconfig;
  process.env.SLUICE_TEST_SERVER = server;
  process.env.SLUICE_TEST_CLUSTER_DIR = clusterDir;
}

export async function globalTeardown(): Promise<void> {
  if (!clusterDir) return;
  await stopCluster(clusterDir);
  await rm(clusterDir, { recursive: true, force: true });
}
